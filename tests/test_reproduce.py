"""`xlner reproduce` (issue 3): which runs a plan makes, how the best combination is chosen, the report.

The training itself is covered elsewhere; CI runs `xlner reproduce --quick` end to end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from modeling_xlner.training import reproduce as reproduce_module
from modeling_xlner.training.results import Results
from modeling_xlner.cli import build_parser, reproduce_plan
from modeling_xlner.training.reproduce import (
    COMBINATIONS,
    DEFAULT_INPUT,
    FULL_PLAN,
    INPUT_VARIANTS,
    QUICK_PLAN,
    Context,
    Run,
    best_combination,
    markdown_table,
    plan_runs,
    summarize,
)


def test_full_plan_covers_the_issue():
    """Every combination at 250/500/1000/2000 with 3 seeds; scratch, char+classifier and the best on the full set."""
    runs = plan_runs(FULL_PLAN, best_combination="all")
    grid = [r for r in runs if r.size is not None and r.inputs == DEFAULT_INPUT]
    assert {(r.method, r.size) for r in grid} == {
        (method, size) for method in ("scratch", *COMBINATIONS) for size in (250, 500, 1000, 2000)
    }
    assert all(sum(1 for r in grid if (r.method, r.size) == key) == 3 for key in {(r.method, r.size) for r in grid})
    full = {(r.method, r.seed) for r in runs if r.size is None}
    assert full == {(method, seed) for method in ("scratch", "char+classifier", "all") for seed in (1, 2, 3)}
    # The romanisation ablation: every input variant, scratch and the best transfer, at 500 sentences.
    ablation = {(r.method, r.inputs) for r in runs if r.size == 500}
    assert ablation >= {(method, inputs) for method in ("scratch", "all") for inputs in INPUT_VARIANTS}
    assert len(runs) == len(set(runs)), "no run twice"


def test_quick_plan_runs_every_step_once():
    runs = plan_runs(QUICK_PLAN, best_combination="char+classifier")
    assert {r.method for r in runs} == {"scratch", "char+classifier"}
    assert {r.inputs for r in runs} == set(INPUT_VARIANTS)


def _scores(f1: float) -> dict:
    return {"precision": f1, "recall": f1, "f1": f1, "n_gold": 100, "n_pred": 100}


def _trained(test: float, validation: float) -> dict:
    """A results.json of `train` / `transfer` (as a dict) with these F1s."""
    return {
        "language": "ja", "labels": ["O", "B-人名", "I-人名"],
        "data": {"train_sentences": 500, "validation_sentences": 50, "train_unrepresentable_entities": 0, "test_sentences": 50},
        "boundary_ceiling": {}, "validation": _scores(validation), "test": _scores(test) | {"per_type": {}},
        "best_epoch": 10, "epochs_trained": 20, "seconds_per_epoch": 3.0, "learning_curve": [],
        "seed": 1, "threads": 1, "processes": 1, "options": {}, "model_config": {},
        "train_file": "t.jsonl", "validation_file": "v.jsonl", "test_file": "s.jsonl", "dropped_overlapping_entities": 0,
    }  # fmt: skip


def _result(method: str, size: int | None, seed: int, test: float, validation: float, inputs: str = DEFAULT_INPUT) -> dict:
    """The results.json of a finished reproduce run, as a dict."""
    name = Run(method, size, seed, inputs).name
    run = {"method": method, "size": size, "seed": seed, "inputs": inputs, "name": name, "wall_seconds": 1.0}
    return _trained(test, validation) | {"run": run}


def _typed(results: list[dict]) -> list[Results]:
    return [Results.from_dict(result) for result in results]


def test_best_combination_is_chosen_on_validation_never_on_test():
    results = [
        _result("scratch", 500, 1, test=0.40, validation=0.40),
        _result("char", 500, 1, test=0.60, validation=0.41),  # best on test, worse on validation
        _result("char+classifier", 500, 1, test=0.45, validation=0.50),
    ]
    assert best_combination(summarize(_typed(results))) == "char+classifier"


def test_best_combination_compares_at_the_sizes_every_combination_has():
    results = [
        _result("char", 250, 1, test=0.30, validation=0.33),
        _result("char+classifier", 250, 1, test=0.30, validation=0.31),
        # Only char+classifier was also run at 2000: its higher score there must not decide.
        _result("char+classifier", 2000, 1, test=0.55, validation=0.56),
    ]
    assert best_combination(summarize(_typed(results))) == "char"


def test_report_only_summarises_every_finished_run_without_training(tmp_path, monkeypatch):
    """A grid built over several invocations (or cut short) is reported as a whole."""
    monkeypatch.setattr(reproduce_module, "run_all", lambda *a, **k: pytest.fail("report-only must not train"))
    english = tmp_path / "english"
    english.mkdir()
    Results.from_dict(_trained(0.85, 0.86) | {"seconds_per_epoch": 60.0}).save(english / "results.json")
    finished = [
        _result("scratch", 500, 1, 0.40, 0.41),
        _result("scratch", 1000, 1, 0.46, 0.47),
        _result("char+classifier", 500, 1, 0.47, 0.48),
        _result("char+classifier", 500, 1, 0.35, 0.36, inputs="char=japanese,word=japanese"),
    ]
    for result in finished:
        run = Run(result["run"]["method"], result["run"]["size"], result["run"]["seed"], result["run"]["inputs"])
        folder = tmp_path / "runs" / run.name
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({**result, "run": {**result["run"], "wall_seconds": 60.0}}))
    (tmp_path / "runs" / "scratch__n2000__seed1").mkdir()  # unfinished: no results.json, not reported

    args = build_parser().parse_args(["reproduce", "--output-dir", str(tmp_path), "--report-only"])
    args.run(args)
    report = json.loads((tmp_path / "results.json").read_text())
    assert len(report["runs"]) == 4 and report["best_combination"] == "char+classifier"
    assert report["run_seconds_sum"] == 240.0 and report["source"]["test_f1"] == 0.85
    table = (tmp_path / "results.md").read_text()
    assert "char+classifier at n=500 (47.0) vs scratch at n=1000 (46.0)" in table
    assert "| inputs | char+classifier |" in table and "| char=japanese,word=japanese | 35.0 (1 seed) |" in table
    assert (tmp_path / "learning_curve.png").stat().st_size > 0


def test_run_names_round_trip():
    for run in plan_runs(FULL_PLAN, "char"):
        assert Run.from_name(run.name) == run
    assert Run.from_name("scratch__nfull__seed2") == Run("scratch", None, 2)


@pytest.mark.parametrize("name", ["scratch", "chars__n500__seed1", "char__n500__seedX", "char__n500__seed1__char-latin_word-romaji"])
def test_bad_run_names_are_clear_errors(name):
    with pytest.raises(ValueError, match="METHOD__nSIZE__seedN"):
        Run.from_name(name)


def test_named_runs_train_in_order_then_everything_finished_is_reported(tmp_path, monkeypatch):
    english = tmp_path / "english"
    english.mkdir()
    Results.from_dict(_trained(0.85, 0.86)).save(english / "results.json")
    trained = []

    def fake_run_one(run, context):
        trained.append(run.name)
        folder = tmp_path / "runs" / run.name
        folder.mkdir(parents=True)
        result = Results.from_dict(_result(run.method, run.size, run.seed, 0.4, 0.4, inputs=run.inputs))
        return result.save(folder / "results.json") and result

    monkeypatch.setattr(reproduce_module, "_run_one", fake_run_one)
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: {})
    names = ["scratch__nfull__seed1", "char+classifier__n500__seed1__char-japanese_word-japanese"]
    report = reproduce_module.reproduce(tmp_path, data_dir="data", source=str(english), only=names)
    assert trained == names and sorted(r["name"] for r in report["runs"]) == sorted(names)
    assert report["source"] == {"path": str(english), "test_f1": 0.85, "seconds_per_epoch": 3.0}


def test_run_one_records_the_run_and_is_not_run_twice(tmp_path, monkeypatch):
    """`train` returns the run's `Results`; `_run_one` adds the run record."""
    import modeling_xlner.training.trainer as trainer

    calls = []

    def fake_train(language, train, validation, output, options, test):
        calls.append(options)
        Path(output).mkdir(parents=True)
        (Path(output) / "checkpoints").mkdir()
        return Results.from_dict(_trained(0.5, 0.6))

    monkeypatch.setattr(trainer, "train", fake_train)
    files = {"train": "t.jsonl", "validation": "v.jsonl", "test": "s.jsonl"}
    context = Context(data={"ja": files}, source="english", output_dir=tmp_path, plan=QUICK_PLAN)
    run = Run("scratch", 500, 2)
    results = reproduce_module._run_one(run, context)
    assert isinstance(results, Results) and results.run.name == run.name == "scratch__n500__seed2"
    assert (results.run.method, results.run.size, results.run.seed, results.run.inputs) == ("scratch", 500, 2, DEFAULT_INPUT)
    assert results.run.wall_seconds >= 0 and calls[0].max_train_samples == 500 and calls[0].seed == 2
    folder = tmp_path / "runs" / run.name
    assert Results.load(folder / "results.json") == results and not (folder / "checkpoints").exists()
    assert reproduce_module._run_one(run, context) == results and len(calls) == 1  # done: not trained again


def test_collect_results_refuses_files_that_are_not_reproduce_runs(tmp_path):
    folder = tmp_path / "runs" / "scratch__n500__seed1"
    folder.mkdir(parents=True)
    Results.from_dict(_trained(0.4, 0.4)).save(folder / "results.json")
    with pytest.raises(ValueError, match="not a run of xlner reproduce"):
        reproduce_module.collect_results(tmp_path)
    (folder / "results.json").write_text(json.dumps(_result("scratch", 500, 1, 0.4, 0.4) | {"test": {"f1": 0.4}}))
    with pytest.raises(ValueError, match=r"scratch__n500__seed1/results.json: missing field test\.precision"):
        reproduce_module.collect_results(tmp_path)


def test_report_only_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished run"):
        reproduce_module.reproduce(tmp_path, report_only=True)


def test_summary_and_table_report_mean_spread_gains_and_n_vs_2n():
    results = [
        _result("scratch", 500, 1, 0.40, 0.41),
        _result("scratch", 500, 2, 0.42, 0.43),
        _result("scratch", 1000, 1, 0.46, 0.47),
        _result("char+classifier", 500, 1, 0.47, 0.48),
        _result("char+classifier", 500, 2, 0.49, 0.50),
        _result("scratch", 500, 1, 0.30, 0.31, inputs="char=japanese,word=japanese"),
    ]
    summary = summarize(_typed(results)) | {"ablation_size": 500}
    row = next(r for r in summary["rows"] if (r["method"], r["size"], r["inputs"]) == ("scratch", "500", DEFAULT_INPUT))
    assert row["test_f1_mean"] == pytest.approx(0.41) and row["seeds"] == [1, 2]
    assert (row["test_f1_min"], row["test_f1_max"]) == (0.40, 0.42)
    table = markdown_table(summary, "char+classifier")
    assert "| **char+classifier** (best) | 48.0 ± 1.4 |" in table
    assert "n=500: +7.0" in table
    assert "char+classifier at n=500 (48.0) vs scratch at n=1000 (46.0)" in table
    assert "Romanisation ablation at n=500" in table and "| char=japanese,word=japanese | 30.0 (1 seed) |" in table


def test_transfer_options_of_the_plan_reach_the_transfer_runs(monkeypatch, tmp_path):
    """`--freeze-transferred-epochs`, `--transferred-lr-scale`, `--shared-bigrams false` go into each transfer run."""
    seen = {}

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        seen.update(source=source, options=options, transfer=transfer_options)
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.5, 0.5))

    import modeling_xlner.training.transfer as training

    monkeypatch.setattr(training, "transfer", fake_transfer)
    args = build_parser().parse_args(
        ["reproduce", "--output-dir", str(tmp_path), "--freeze-transferred-epochs", "3", "--transferred-lr-scale", "0.3",
         "--shared-bigrams", "false", "--epochs", "7", "--patience", "2", "--set", "word_dropout=0.2"]
    )  # fmt: skip
    plan = reproduce_plan(args)
    assert plan == replace(
        FULL_PLAN, freeze_transferred_epochs=3, transferred_lr_scale=0.3, shared_bigrams=False, epochs=7, patience=2,
        model_config={"word_dropout": 0.2},
    )  # fmt: skip
    files = {"train": "t.jsonl", "validation": "v.jsonl", "test": "s.jsonl"}
    context = Context(data={"ja": files}, source="english", output_dir=tmp_path, plan=plan)
    results = reproduce_module._run_one(Run("char+classifier", 500, 1), context)
    assert seen["source"] == "english"
    assert (seen["options"].epochs, seen["options"].patience, seen["options"].max_train_samples) == (7, 2, 500)
    assert seen["options"].model_config == {"word_dropout": 0.2}
    transfer = seen["transfer"]
    assert transfer.modules == ("char", "classifier")
    assert (transfer.freeze_transferred_epochs, transfer.transferred_lr_scale, transfer.shared_bigrams) == (3, 0.3, False)
    # The run's results are kept, so an interrupted reproduction does not train it again.
    saved = json.loads((Path(tmp_path) / "runs" / "char+classifier__n500__seed1" / "results.json").read_text())
    assert saved["run"]["name"] == "char+classifier__n500__seed1" == results.run.name


# ---------------------------------------------------------------------------------- downloading the public data


class _Response:
    def __init__(self, payload: bytes):
        self.payload = payload

    def read(self) -> bytes:
        return self.payload

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _fake_conll(dataset_id: str, split: str, config_name: str | None = None):
    import datasets

    assert dataset_id == reproduce_module.CONLL_HUB_ID and split in ("train", "validation", "test")
    return datasets.Dataset.from_list([{"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}])


def test_download_splits_stockmark_as_the_shared_data(shared_data, tmp_path, monkeypatch):
    """The standard recipe (seed 42 shuffle, 80/10/10) applied to ner.json gives exactly ../shared/data's split.

    ner.json's original order is recovered by inverting the seed-42 permutation over the shared
    splits; fed back through the download path, it must reproduce them record for record.
    """
    import random
    import urllib.request

    import modeling_xlner.training.data as data_module

    folder = shared_data / "ner-wikipedia-ja"
    shared = {
        split: [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line]
        for split in ("train", "validation", "test")
    }
    shuffled = shared["train"] + shared["validation"] + shared["test"]
    permutation = list(range(len(shuffled)))
    random.Random(42).shuffle(permutation)
    original = [None] * len(shuffled)
    for position, index in enumerate(permutation):
        original[index] = shuffled[position]

    opened = []

    def urlopen(url, timeout):
        opened.append(url)
        return _Response(json.dumps(original, ensure_ascii=False).encode("utf-8"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(data_module, "load_hub_split", _fake_conll)
    state = random.getstate()
    files = reproduce_module.fetch_public_data(tmp_path)
    assert random.getstate() == state, "the caller's random state is left alone"
    assert opened == [reproduce_module.STOCKMARK_URL]
    for split, records in shared.items():
        written = [json.loads(line) for line in Path(files["ja"][split]).read_text(encoding="utf-8").splitlines()]
        assert written == records, split
    assert Path(files["en"]["train"]).read_text(encoding="utf-8") == "EU B-ORG\nrejects O\n"


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    import modeling_xlner.training.data as data_module

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(data_module, "load_hub_split", offline)
    with pytest.raises(SystemExit) as exit_info:
        reproduce_module.reproduce(tmp_path / "out", data_dir=None, plan=QUICK_PLAN)
    message = str(exit_info.value)
    assert "cannot download the public data (ConnectionError: no route to host)" in message
    assert reproduce_module.CONLL_HUB_ID in message and reproduce_module.STOCKMARK_URL in message
    assert "--data-dir" in message
