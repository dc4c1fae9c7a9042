"""`xlner reproduce` (issue 3): which runs a plan makes, how the best combination is chosen, the report.

The training itself is covered elsewhere; CI runs `xlner reproduce --quick` end to end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from modeling_xlner.training import reproduce as reproduce_module
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.results import Results
from modeling_xlner.cli import build_parser, reproduce_plan
from modeling_xlner.training.reproduce import (
    COMBINATIONS,
    DEFAULT_INPUT,
    DEFAULT_RECIPE,
    FULL_PLAN,
    INPUT_VARIANTS,
    QUICK_PLAN,
    RECIPE_HELP,
    RECIPES,
    TRANSFER_METHOD_HELP,
    TRANSFER_METHODS,
    Context,
    Plan,
    Run,
    best_combination,
    best_combinations,
    markdown_table,
    plan_runs,
    recipe_options,
    summarize,
)

FILES = {"train": "t.jsonl", "validation": "v.jsonl", "test": "s.jsonl"}


def test_plan_defaults_give_the_papers_grid():
    """Plan() per recipe (paper, best): every combination at 250/500/1000/2000 with 3 seeds; scratch,
    char+classifier and the recipe's best on the full set; the ablation with the recipe's best. Under
    best (vectors of 50 and 300 dimensions), a plain copy cannot carry `word`, so its grid has only the
    combinations without it."""
    grid_plan = Plan()
    assert grid_plan.recipes == ("paper", "best")
    runs = plan_runs(grid_plan, best_combination={"paper": "all", "best": "char"})
    copyable = {"paper": tuple(COMBINATIONS), "best": ("char", "classifier", "char+classifier")}
    for recipe, best in (("paper", "all"), ("best", "char")):
        of_recipe = [r for r in runs if r.recipe == recipe]
        grid = [r for r in of_recipe if r.size is not None and r.inputs == DEFAULT_INPUT]
        assert {(r.method, r.size) for r in grid} == {
            (method, size) for method in ("scratch", *copyable[recipe]) for size in (250, 500, 1000, 2000)
        }
        assert all(sum(1 for r in grid if (r.method, r.size) == key) == 3 for key in {(r.method, r.size) for r in grid})
        full = {(r.method, r.seed) for r in of_recipe if r.size is None}
        assert full == {(method, seed) for method in ("scratch", "char+classifier", best) for seed in (1, 2, 3)}
        # The romanisation ablation: every input variant, scratch and the recipe's best transfer, at 500 sentences.
        ablation = {(r.method, r.inputs) for r in of_recipe if r.size == 500}
        assert ablation == {(method, DEFAULT_INPUT) for method in ("scratch", *copyable[recipe])} | {
            (method, inputs) for method in ("scratch", best) for inputs in INPUT_VARIANTS
        }
    assert {r.recipe for r in runs} == {"paper", "best"}
    assert len(runs) == len(set(runs)), "no run twice"


def test_full_plan_is_scratch_and_char_classifier_at_every_size_and_the_module_table():
    """FULL_PLAN (issue 14, 3 hours at --jobs 2): the best recipe's scratch and char+classifier (copy) at
    250/500/1000/2000 and the full set, 3 seeds each; then every combination at 250 and 500 (seed 1) with
    translated rows where `word` is copied and copy elsewhere. Listed by hand."""
    runs = plan_runs(FULL_PLAN, best_combination={"best": "char+classifier"})
    # The module table's method is the plan's, so its runs are known before the grid has chosen the best.
    assert {r.size for r in plan_runs(FULL_PLAN) if r.method == "word"} == {250, 500}
    assert {r.recipe for r in runs} == {"best"} and {r.inputs for r in runs} == {DEFAULT_INPUT}
    table = {(r.method, r.size, r.seed, r.transfer_method) for r in runs}
    main = {
        (method, size, seed, transfer)
        for size in (250, 500, 1000, 2000, None)
        for seed in (1, 2, 3)
        for method, transfer in (("scratch", "copy"), ("char+classifier", "copy"))
    }
    modules = {
        (method, size, 1, transfer)
        for size in (250, 500)
        for method, transfer in [
            ("char", "copy"), ("word", "translated-rows"), ("classifier", "copy"), ("char+classifier", "copy"),
            ("char+word", "translated-rows"), ("word+classifier", "translated-rows"), ("all", "translated-rows"),
        ]
    }  # fmt: skip
    assert table == main | modules
    assert len(runs) == len(set(runs)) == 30 + 2 * 6, "no run twice (char+classifier at 250/500 seed 1 is in both)"
    # The size grid, run first, holds neither the full set nor the module table.
    grid = plan_runs(replace(FULL_PLAN, full_set=False, module_table_sizes=()))
    assert {(r.method, r.size) for r in grid} == {(m, n) for m in ("scratch", "char+classifier") for n in (250, 500, 1000, 2000)}
    # Without a module-table method the table is the best's, so it waits for the grid to choose.
    chosen = replace(FULL_PLAN, module_table_method=None)
    assert not [r for r in plan_runs(chosen) if r.method == "word"]
    assert {r.transfer_method for r in plan_runs(chosen, {"best": "all__shared-space"}) if r.method == "word"} == {"shared-space"}


def test_module_table_of_a_self_training_method_self_trains_every_combination():
    plan = replace(FULL_PLAN, sizes=(), full_set=False, zero_shot=False, module_table_sizes=(250,), module_table_method="translated-rows+self-training")
    table = {r.method: r.transfer_method for r in plan_runs(plan)}
    # By hand: word crosses the scripts only by the map; without word, the map does not apply and plain self-training runs.
    assert table == {
        "char": "self-training", "word": "translated-rows+self-training", "classifier": "self-training",
        "char+classifier": "self-training", "char+word": "translated-rows+self-training",
        "word+classifier": "translated-rows+self-training", "all": "translated-rows+self-training",
    }  # fmt: skip
    voting = {r.method: r.transfer_method for r in plan_runs(replace(plan, module_table_method="self-training+vote"))}
    assert [voting[name] for name in ("char", "classifier", "char+classifier")] == ["self-training+vote"] * 3
    # The three-teacher vote has no word-space form: the combinations with word, which GloVe and chiVe's widths keep from being
    # copied as they are, are left out rather than listed as runs that would fail.
    assert set(voting) == {"char", "classifier", "char+classifier"}
    # The mixed vote has a word-space form: each combination with word takes it.
    mixed = {r.method: r.transfer_method for r in plan_runs(replace(plan, module_table_method="self-training+mixed-vote"))}
    assert mixed == {
        name: "translated-rows+self-training+mixed-vote" if "word" in name or name == "all" else "self-training+mixed-vote"
        for name in COMBINATIONS
    }
    copied = {r.method: r.transfer_method for r in plan_runs(replace(plan, module_table_method="copy"))}
    assert copied == {name: "translated-rows" if "word" in name or name == "all" else "copy" for name in COMBINATIONS}


def test_quick_plan_is_one_recipe_two_sizes_to_early_stopping():
    runs = plan_runs(QUICK_PLAN, best_combination="char+classifier")
    assert {(r.method, r.size, r.seed, r.inputs, r.recipe) for r in runs} == {
        (method, size, 1, DEFAULT_INPUT, "best") for method in ("scratch", "char+classifier") for size in (200, 400)
    }
    # None: the recipe's epochs and patience (early stopping); the English source is cut to 10 epochs.
    assert (QUICK_PLAN.epochs, QUICK_PLAN.patience, QUICK_PLAN.english_epochs, QUICK_PLAN.english_patience) == (None, None, 10, None)
    assert QUICK_PLAN.english_train_samples == 1500


def test_recipes_are_training_options_overrides():
    fields = set(asdict(TrainingOptions()))
    assert all(set(overrides) <= fields for overrides in RECIPES.values())
    assert RECIPES[DEFAULT_RECIPE] == {} and set(RECIPE_HELP) == set(RECIPES)
    assert recipe_options("best") == TrainingOptions()  # the defaults are the best recipe, whatever they are tuned to
    assert recipe_options("paper", epochs=None, patience=3).patience == 3 and recipe_options("paper").epochs == 80


def test_unknown_recipe_in_a_plan_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown recipe 'bset'; recipes: paper, best, no-vectors"):
        Plan(recipes=("paper", "bset"))
    with pytest.raises(ValueError, match="unknown recipe"):
        replace(FULL_PLAN, recipes=("fancy",))


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


def _result(
    method: str, size: int | None, seed: int, test: float, validation: float, inputs: str = DEFAULT_INPUT,
    recipe: str = DEFAULT_RECIPE, transfer_method: str = "copy", **options,
) -> dict:  # fmt: skip
    """The results.json of a finished reproduce run, as a dict: trained with its recipe's options (and `options`).

    A copy run's record has no `transfer_method`, as results.json files from before transfer methods.
    """
    name = Run(method, size, seed, inputs, recipe, transfer_method).name
    run = {"method": method, "size": size, "seed": seed, "inputs": inputs, "name": name, "wall_seconds": 1.0, "recipe": recipe}
    if transfer_method != "copy":
        run["transfer_method"] = transfer_method
    return _trained(test, validation) | {"run": run, "options": asdict(recipe_options(recipe, **options))}


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


def test_best_combination_puts_a_mean_over_seeds_before_a_single_lucky_seed():
    """The full plan's module table runs every pair at seed 1 beside the grid's 3-seed pair."""
    grid = [_result("char+classifier", size, seed, test=0.60, validation=0.60) for size in (250, 500) for seed in (1, 2, 3)]
    table = [_result("word+classifier", size, 1, test=0.58, validation=0.70, transfer_method="translated-rows") for size in (250, 500)]
    assert best_combination(summarize(_typed(grid + table))) == "char+classifier"
    # With one seed each, validation decides as before.
    assert best_combination(summarize(_typed(grid[:1] + grid[3:4] + table))) == "word+classifier__translated-rows"


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
        folder = tmp_path / "runs" / result["run"]["name"]
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({**result, "run": {**result["run"], "wall_seconds": 60.0}}))
    (tmp_path / "runs" / "scratch__n2000__seed1").mkdir()  # unfinished: no results.json, not reported

    args = build_parser().parse_args(["reproduce", "--output-dir", str(tmp_path), "--report-only"])
    args.run(args)
    report = json.loads((tmp_path / "results.json").read_text())
    assert len(report["runs"]) == 4 and report["best_combinations"] == {"best": "char+classifier"}
    assert report["run_seconds_sum"] == 240.0 and report["sources"]["best"]["test_f1"] == 0.85
    table = (tmp_path / "results.md").read_text()
    assert "char+classifier at n=500 (47.0) vs scratch at n=1000 (46.0)" in table
    assert "| inputs | best / char+classifier |" in table and "| char=japanese,word=japanese | 35.0 (1 seed) |" in table
    assert (tmp_path / "learning_curve.png").stat().st_size > 0


def test_run_names_round_trip_for_every_recipe():
    runs = plan_runs(replace(FULL_PLAN, recipes=tuple(RECIPES)), "char")
    assert {run.recipe for run in runs} == set(RECIPES)
    for run in runs:
        assert Run.from_name(run.name) == run
    assert len({run.name for run in runs}) == len(runs)
    assert Run.from_name("scratch__nfull__seed2") == Run("scratch", None, 2)
    # Only a recipe other than the default adds a suffix, after the inputs'.
    assert Run("scratch", 500, 1, recipe="paper").name == "scratch__n500__seed1__paper"
    run = Run("char+classifier", 500, 1, "char=japanese,word=japanese", "no-crf")
    assert run.name == "char+classifier__n500__seed1__char-japanese_word-japanese__no-crf" and Run.from_name(run.name) == run


@pytest.mark.parametrize(
    "name",
    [
        "scratch", "chars__n500__seed1", "char__n500__seedX", "char__n500__seed1__char-latin_word-romaji",
        "char__n500__seed1__best",  # the default recipe takes no suffix: one run, one folder
        "char__n0500__seed1", "char__n500__seed1__paper__paper",
    ],
)  # fmt: skip
def test_bad_run_names_are_clear_errors(name):
    with pytest.raises(ValueError, match="METHOD__nSIZE__seedN") as error:
        Run.from_name(name)
    assert "RECIPE one of paper, no-vectors, no-pos, no-crf, paper-schedule (none: best)" in str(error.value)


@pytest.mark.parametrize("name", ["scratch__n500__seed1__fancy", "scratch__n500__seed1__char-japanese_word-japanese__Paper"])
def test_unknown_recipe_suffix_is_rejected_naming_the_recipes(name):
    with pytest.raises(ValueError, match="unknown recipe or transfer method '(fancy|Paper)'") as error:
        Run.from_name(name)
    assert all(recipe in str(error.value) for recipe in RECIPES)


def test_named_runs_train_in_order_then_everything_finished_is_reported(tmp_path, monkeypatch):
    english = tmp_path / "english"
    english.mkdir()
    Results.from_dict(_trained(0.85, 0.86)).save(english / "results.json")
    trained = []

    def fake_run_one(run, context):
        trained.append(run.name)
        folder = tmp_path / "runs" / run.name
        folder.mkdir(parents=True)
        result = Results.from_dict(_result(run.method, run.size, run.seed, 0.4, 0.4, inputs=run.inputs, recipe=run.recipe))
        return result.save(folder / "results.json") and result

    monkeypatch.setattr(reproduce_module, "_run_one", fake_run_one)
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: {})
    monkeypatch.setattr(reproduce_module, "pretrain_english", lambda *a: pytest.fail("--source given: nothing to pretrain"))
    names = ["scratch__nfull__seed1", "char+classifier__n500__seed1__char-japanese_word-japanese", "scratch__n500__seed1__no-crf"]
    report = reproduce_module.reproduce(tmp_path, data_dir="data", source=str(english), only=names)
    assert trained == names and sorted(r["name"] for r in report["runs"]) == sorted(names)
    assert {r["name"]: r["recipe"] for r in report["runs"]}["scratch__n500__seed1__no-crf"] == "no-crf"
    # The source given is every recipe's.
    record = {"path": str(english), "test_f1": 0.85, "seconds_per_epoch": 3.0}
    assert report["sources"] == {"best": record, "no-crf": record}


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
    context = Context(data={"ja": FILES}, sources={("best", False): "english"}, output_dir=tmp_path, plan=QUICK_PLAN)
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
    table = markdown_table(summary, {"best": "char+classifier"})
    assert "| best / **char+classifier** (best on validation) | 48.0 ± 1.4 |" in table
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
    sources = {("best", False): "english", ("paper", False): "english-paper"}
    context = Context(data={"ja": FILES}, sources=sources, output_dir=tmp_path, plan=plan)
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


# ---------------------------------------------------------------------------------- recipes


@pytest.fixture
def captured(monkeypatch):
    """`train` and `transfer` replaced by fakes that record (source, options) instead of training."""
    import modeling_xlner.training.trainer as trainer
    import modeling_xlner.training.transfer as training

    calls = []

    def fake_train(language, train, validation, output, options, test):
        calls.append({"language": language, "source": None, "options": options})
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.5, 0.5))

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        calls.append({"language": language, "source": source, "options": options})
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.5, 0.5))

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr(training, "transfer", fake_transfer)
    return calls


def test_run_one_trains_with_the_recipe_and_its_own_source(tmp_path, captured):
    sources = {("paper", False): "english-paper", ("best", False): "english", ("no-crf", False): "english-no-crf"}
    context = Context(data={"ja": FILES}, sources=sources, output_dir=tmp_path, plan=FULL_PLAN)
    run_inputs = {"seed": 2, "threads": 1, "tokenizer_options": {"char_input": "romaji", "word_input": "surface"}}

    results = reproduce_module._run_one(Run("scratch", 500, 2, recipe="paper"), context)
    paper = captured[-1]["options"]
    assert (paper.vectors, paper.crf, paper.part_of_speech) == (None, False, False)
    assert (paper.batch_size, paper.learning_rate, paper.lr_scheduler, paper.epochs, paper.patience) == (32, 2e-3, "linear", 80, 10)
    assert paper.max_train_samples == 500 and results.run.recipe == "paper"
    assert results.run.name == "scratch__n500__seed2__paper"

    reproduce_module._run_one(Run("char+classifier", 500, 2, recipe="no-crf"), context)
    assert captured[-1]["source"] == "english-no-crf"  # the recipe's own source
    # no-crf is the defaults (the best recipe, as tuned) with the softmax head: nothing else changes.
    assert captured[-1]["options"] == TrainingOptions(crf=False, max_train_samples=500, **run_inputs)

    reproduce_module._run_one(Run("char+classifier", None, 2), context)
    assert captured[-1]["source"] == "english" and captured[-1]["options"] == TrainingOptions(**run_inputs)


def test_plan_epochs_and_patience_override_every_recipe(tmp_path, captured):
    context = Context(data={"ja": FILES}, sources={}, output_dir=tmp_path, plan=replace(FULL_PLAN, epochs=5, patience=None))
    reproduce_module._run_one(Run("scratch", 250, 1, recipe="paper"), context)
    # epochs 5 from the plan; patience None in the plan: the recipe's (10).
    assert (captured[-1]["options"].epochs, captured[-1]["options"].patience) == (5, 10)
    # --patience 0: no early stopping, whatever the recipe.
    context.plan = replace(FULL_PLAN, patience=0)
    reproduce_module._run_one(Run("scratch", 250, 2, recipe="paper"), context)
    assert captured[-1]["options"].patience is None


def test_a_plan_without_combinations_has_a_scratch_only_ablation():
    runs = plan_runs(Plan(combinations=(), full_set=False))
    assert {r.method for r in runs} == {"scratch"} and {r.inputs for r in runs} == set(INPUT_VARIANTS)


def test_english_source_per_recipe_keeps_the_plans_english_settings(tmp_path, captured):
    context = Context(data={"en": FILES}, sources={}, output_dir=tmp_path, plan=replace(FULL_PLAN, english_epochs=40, english_patience=5))
    assert reproduce_module.pretrain_english("paper", context) == str(tmp_path / "english-paper")
    assert reproduce_module.pretrain_english("best", context) == str(tmp_path / "english")
    paper, best = captured[0]["options"], captured[1]["options"]
    assert captured[0]["language"] == "en" and (paper.crf, paper.vectors, paper.batch_size) == (False, None, 32)
    assert (paper.epochs, paper.patience) == (best.epochs, best.patience) == (40, 5)  # the plan's english_* settings
    assert best == TrainingOptions(epochs=40, patience=5, seed=1, threads=1)
    quick = Context(data={"en": FILES}, sources={}, output_dir=tmp_path / "quick", plan=replace(QUICK_PLAN, english_epochs=None))
    reproduce_module.pretrain_english("paper", quick)
    assert (captured[2]["options"].epochs, captured[2]["options"].patience) == (80, 10)  # None: the recipe's


def test_an_english_source_of_other_options_is_refused(tmp_path, captured):
    """OUTPUT_DIR/english from before recipes (the paper's softmax model) must not become best's source."""
    english = tmp_path / "english"
    english.mkdir()
    Results.from_dict(_trained(0.85, 0.86) | {"options": asdict(recipe_options("paper"))}).save(english / "results.json")
    context = Context(data={"en": FILES}, sources={}, output_dir=tmp_path, plan=FULL_PLAN)
    with pytest.raises(ValueError, match="english: an English source trained with other options than recipe best's") as error:
        reproduce_module.pretrain_english("best", context)
    assert "crf=False (recipe: True)" in str(error.value) and "move it away (or pass --source)" in str(error.value)
    (tmp_path / "english-paper").mkdir()
    (english / "results.json").rename(tmp_path / "english-paper" / "results.json")
    assert reproduce_module.pretrain_english("paper", context) == str(tmp_path / "english-paper") and not captured


def test_only_recipes_with_transfer_runs_get_a_source(tmp_path, monkeypatch):
    pretrained = []
    def fake_pretrain(recipe, context, code_switched=False):
        pretrained.append((recipe, code_switched))
        return f"en-{recipe}" + ("-cs" if code_switched else "")

    monkeypatch.setattr(reproduce_module, "pretrain_english", fake_pretrain)
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: {})
    seen = {}

    def fake_run_all(runs, context, jobs):
        seen.update(sources=context.sources)
        for run in runs:
            folder = tmp_path / "runs" / run.name
            folder.mkdir(parents=True)
            Results.from_dict(_result(run.method, run.size, run.seed, 0.4, 0.4, recipe=run.recipe)).save(folder / "results.json")

    monkeypatch.setattr(reproduce_module, "run_all", fake_run_all)
    names = ["scratch__n500__seed1__paper", "char__n500__seed1__no-crf"]
    reproduce_module.reproduce(tmp_path, data_dir="data", only=names)
    assert pretrained == [("no-crf", False)] and seen["sources"] == {("no-crf", False): "en-no-crf"}


def _two_recipes() -> list[Results]:
    """paper and best side by side, each with its own best combination on validation."""
    return _typed([
        _result("scratch", 500, 1, 0.30, 0.31, recipe="paper"),
        _result("scratch", 500, 2, 0.34, 0.35, recipe="paper"),
        _result("scratch", 1000, 1, 0.36, 0.37, recipe="paper"),
        _result("char", 500, 1, 0.33, 0.60, recipe="paper"),  # paper's best on validation
        _result("char", 500, 2, 0.33, 0.60, recipe="paper"),
        _result("char+classifier", 500, 1, 0.35, 0.40, recipe="paper"),
        _result("char+classifier", 500, 2, 0.39, 0.40, recipe="paper"),
        _result("scratch", 500, 1, 0.40, 0.41),
        _result("scratch", 500, 2, 0.42, 0.43),
        _result("scratch", 1000, 1, 0.46, 0.47),
        _result("char", 500, 1, 0.50, 0.40),
        _result("char+classifier", 500, 1, 0.47, 0.48),  # best's best on validation
        _result("char+classifier", 500, 2, 0.49, 0.50),
    ])  # fmt: skip


def test_markdown_report_shows_the_recipes_side_by_side():
    summary = summarize(_two_recipes()) | {"ablation_size": None}
    best = best_combinations(summary)
    assert best == {"paper": "char", "best": "char+classifier"}  # each recipe chooses among its own runs
    table = markdown_table(summary, best)
    # mean ± std over seeds ×100: paper scratch (30, 34) → 32.0 ± 2.8, paper char+classifier (35, 39) → 37.0 ± 2.8,
    # best scratch (40, 42) → 41.0 ± 1.4, best char+classifier (47, 49) → 48.0 ± 1.4.
    expected_rows = [
        "| paper / scratch | 32.0 ± 2.8 | 36.0 (1 seed) | 10.0 |",
        "| paper / **char** (best on validation) | 33.0 ± 0.0 |  | 10.0 |",
        "| paper / char+classifier | 37.0 ± 2.8 |  | 10.0 |",
        "| best / scratch | 41.0 ± 1.4 | 46.0 (1 seed) | 10.0 |",
        "| best / char | 50.0 (1 seed) |  | 10.0 |",
        "| best / **char+classifier** (best on validation) | 48.0 ± 1.4 |  | 10.0 |",
    ]
    lines = table.splitlines()
    f1_table = lines[: lines.index("## Epochs to best validation F1, mean over seeds")]
    assert [line for line in f1_table if line.startswith(("| paper /", "| best /"))] == expected_rows
    assert "| recipe / method | n=500 | n=1000 | epochs to best (mean) |" in lines
    assert "Gain of char over scratch (paper): n=500: +1.0" in lines
    assert "Gain of char+classifier over scratch (best): n=500: +7.0" in lines
    assert "Transfer at N against scratch at 2N (paper): char at n=500 (33.0) vs scratch at n=1000 (36.0)" in lines
    assert "Transfer at N against scratch at 2N (best): char+classifier at n=500 (48.0) vs scratch at n=1000 (46.0)" in lines
    glance = lines[lines.index("## Recipes at a glance: scratch test F1 ×100, mean ± std over seeds") :]
    assert glance[2:6] == [
        "| recipe | n=500 | n=1000 |", "|---|---|---|", "| paper | 32.0 ± 2.8 | 36.0 (1 seed) |", "| best | 41.0 ± 1.4 | 46.0 (1 seed) |",
    ]  # fmt: skip
    assert "Romanisation ablation" not in table


def test_markdown_report_gives_epochs_to_best_per_size():
    results = []
    for seed, (epochs_250, epochs_500) in enumerate([(4, 9), (6, 12)], start=1):
        for method, size, epochs in (("scratch", 250, epochs_250), ("scratch", 500, epochs_500), ("char+classifier", 250, 3 * seed)):
            result = _result(method, size, seed, 0.4, 0.4)
            results.append(result | {"best_epoch": epochs})
    lines = markdown_table(summarize(_typed(results)) | {"ablation_size": None}, {}).splitlines()
    table = lines[lines.index("## Epochs to best validation F1, mean over seeds") :]
    # Means by hand: scratch (4 + 6) / 2 and (9 + 12) / 2; char+classifier (3 + 6) / 2, no run at 500.
    assert table[2:6] == ["| recipe / method | n=250 | n=500 |", "|---|---|---|", "| best / scratch | 5.0 | 10.5 |", "| best / char+classifier | 4.5 |  |"]


def test_ablation_table_has_a_column_per_recipe_and_method():
    results = _typed([
        _result("scratch", 500, 1, 0.30, 0.31, inputs="char=japanese,word=japanese", recipe="paper"),
        _result("char", 500, 1, 0.32, 0.31, inputs="char=japanese,word=japanese", recipe="paper"),
        _result("scratch", 500, 1, 0.40, 0.41, inputs="char=japanese,word=japanese"),
    ])  # fmt: skip
    table = markdown_table(summarize(results) | {"ablation_size": 500}, {})
    assert "| inputs | paper / scratch | paper / char | best / scratch |" in table
    assert "| char=japanese,word=japanese | 30.0 (1 seed) | 32.0 (1 seed) | 40.0 (1 seed) |" in table


def test_report_lists_sources_per_recipe_and_notes_runs_without_early_stopping(tmp_path):
    for recipe, f1 in (("paper", 0.80), ("best", 0.88)):
        folder = reproduce_module.source_dir(tmp_path, recipe)
        folder.mkdir()
        Results.from_dict(_trained(f1, f1)).save(folder / "results.json")
    results = _two_recipes()
    fixed = _result("scratch", 250, 1, 0.2, 0.2, epochs=12)
    results += _typed([fixed | {"options": fixed["options"] | {"patience": None}}])  # best, no early stopping
    old = _result("scratch", 250, 1, 0.1, 0.1, recipe="paper", patience=10)
    results += _typed([old | {"options": {k: v for k, v in old["options"].items() if k != "crf"}}])  # from before recipes
    sources = {recipe: str(reproduce_module.source_dir(tmp_path, recipe)) for recipe in ("paper", "best")}
    for r in results:  # every other run stopped early, whatever the defaults' patience
        if r.run.name != "scratch__n250__seed1":
            r.options["patience"] = 10
    report = reproduce_module.write_report(results, FULL_PLAN, sources, tmp_path, 1.0, 1, 1)
    assert report["sources"]["paper"]["test_f1"] == 0.80 and report["sources"]["best"]["test_f1"] == 0.88
    assert report["best_combinations"] == {"paper": "char", "best": "char+classifier"}
    assert report["recipe_mismatches"] == {"scratch__n250__seed1__paper": ["crf=(not recorded) (recipe: False)"]}
    markdown = (tmp_path / "results.md").read_text()
    assert markdown.startswith(f"English source (paper): test F1 80.0 ({sources['paper']})\nEnglish source (best): test F1 88.0")
    assert "Recipe best: 1 of 7 runs had no early stopping (patience None) and trained its fixed 12 epochs" in markdown
    assert "Recipe paper:" not in markdown
    assert "1 run was trained with other options than its recipe's today" in markdown
    assert "runs stopped" not in markdown and "before convergence" not in markdown
    assert (tmp_path / "learning_curve.png").stat().st_size > 0


# ---------------------------------------------------------------------------------- transfer methods

ENGLISH_FILES = {"train": "en/train.txt", "validation": "en/valid.txt", "test": "en/test.txt"}
# Recipes without pretrained vectors, on which the word-space methods do not run.
NO_VECTORS = ("paper", "no-vectors")
WORD_SPACE_METHODS = (
    "shared-space", "shared-space+shapes", "code-switch+space+shapes", "translated-rows", "translated-rows+self-training",
    "translated-rows+self-training+mixed-vote",
)  # fmt: skip


def test_transfer_methods_are_the_benchmarks():
    assert list(TRANSFER_METHODS) == [
        "copy", "shared-space", "shared-space+shapes", "code-switch", "code-switch+space+shapes", "joint", "joint+finetune",
        "translated-rows", "self-training", "self-training+vote", "self-training+mixed-vote",
        "self-training+mixed-vote+partial", "self-training+mixed-vote+gold-x4", "translated-rows+self-training",
        "translated-rows+self-training+mixed-vote",
    ]  # fmt: skip
    assert set(TRANSFER_METHOD_HELP) == set(TRANSFER_METHODS) and reproduce_module.DEFAULT_TRANSFER_METHOD == "copy"
    assert reproduce_module.CODE_SWITCH_RATE == 0.3


def test_run_names_round_trip_for_every_transfer_method_recipe_and_input():
    for transfer_method in TRANSFER_METHODS:
        for recipe in RECIPES:
            for inputs in INPUT_VARIANTS:
                run = Run("all", 500, 1, inputs, recipe, transfer_method)
                if transfer_method in WORD_SPACE_METHODS and recipe in NO_VECTORS:
                    with pytest.raises(ValueError, match=f"recipe {recipe} has none"):
                        Run.from_name(run.name)
                elif transfer_method not in WORD_SPACE_METHODS and recipe not in NO_VECTORS:
                    with pytest.raises(ValueError, match="copies word as it is"):
                        Run.from_name(run.name)
                else:
                    assert Run.from_name(run.name) == run, run.name
    # The transfer method is the name's last part, after the recipe; copy adds nothing (older names stay valid).
    assert Run("all", 500, 1, transfer_method="shared-space+shapes").name == "all__n500__seed1__shared-space+shapes"
    assert Run("char+classifier", 250, 2, recipe="paper", transfer_method="code-switch").name == (
        "char+classifier__n250__seed2__paper__code-switch"
    )
    assert Run.from_name("char+classifier__n250__seed2__paper__code-switch") == Run(
        "char+classifier", 250, 2, DEFAULT_INPUT, "paper", "code-switch"
    )
    assert Run.from_name("char+classifier__nfull__seed3__char-japanese_word-romaji__no-crf__joint") == Run(
        "char+classifier", None, 3, "char=japanese,word=romaji", "no-crf", "joint"
    )
    assert Run("char", 500, 1, transfer_method="copy").name == "char__n500__seed1"


@pytest.mark.parametrize(
    "name, message",
    [
        ("scratch__n500__seed1__joint", "a scratch run transfers nothing, so it takes no transfer method"),
        ("scratch__n500__seed1__paper__code-switch", "a scratch run transfers nothing"),
        ("all__n500__seed1__sharedspace", "unknown recipe or transfer method 'sharedspace'"),
        ("all__n500__seed1__paper__fancy", "unknown recipe or transfer method 'fancy'"),
        ("all__n500__seed1__copy", "expected METHOD__nSIZE__seedN"),  # the default takes no suffix: one run, one folder
        ("all__n500__seed1__joint__paper", "expected METHOD__nSIZE__seedN"),  # the recipe comes first
        ("char+classifier__n500__seed1__shared-space", "it needs word among the modules, not char+classifier"),
        ("word__n500__seed1__shared-space+shapes", "it needs char among the modules, not word"),
        ("all__n500__seed1__no-vectors__code-switch+space+shapes", "recipe no-vectors has none"),
        # GloVe (50-d) and chiVe (300-d): only the map carries word across under a recipe with vectors.
        ("char+word__n500__seed1", "transfer method copy copies word as it is, but recipe best's vectors differ"),
        ("all__n500__seed1__joint", "carry all across with a word-space method"),
    ],
)  # fmt: skip
def test_bad_transfer_method_suffixes_are_clear_errors(name, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("+", r"\+")) as error:
        Run.from_name(name)
    if "expected" in str(error.value):
        expected = "TRANSFER one of shared-space, shared-space+shapes, code-switch, code-switch+space+shapes, joint"
        assert expected in str(error.value)


def test_plan_runs_with_two_transfer_methods_has_every_pair():
    plan = Plan(
        recipes=("best",), sizes=(250,), seeds=(1, 2), combinations=("char+classifier", "all"),
        transfer_methods=("copy", "joint"), full_set=False, ablation_size=None,
    )  # fmt: skip
    # all copies word, which copy and joint cannot carry from GloVe to chiVe: they run char+classifier only.
    assert [run.name for run in plan_runs(plan)] == [
        "scratch__n250__seed1", "char+classifier__n250__seed1", "char+classifier__n250__seed1__joint",
        "scratch__n250__seed2", "char+classifier__n250__seed2", "char+classifier__n250__seed2__joint",
    ]  # fmt: skip
    # A method runs only with the combinations it applies to: the map needs word, the shapes char.
    spaced = replace(plan, seeds=(1,), transfer_methods=("shared-space+shapes",))
    assert [run.name for run in plan_runs(spaced)] == ["scratch__n250__seed1", "all__n250__seed1__shared-space+shapes"]
    # Translated rows without char: no shapes, and no twin method without them, so it runs (as word + the map).
    rows = replace(plan, seeds=(1,), combinations=("word", "char"), transfer_methods=("translated-rows",))
    assert [run.name for run in plan_runs(rows)] == ["scratch__n250__seed1", "word__n250__seed1__translated-rows"]
    # The paper's grid (Plan's defaults): only copy, so every name is as before transfer methods.
    assert Plan().transfer_methods == QUICK_PLAN.transfer_methods == ("copy",)
    full = plan_runs(Plan())
    # Before a best is chosen: paper 8 methods x 4 sizes x 3 seeds + 6 full-set (scratch, char+classifier)
    # + 18 ablation runs = 120; best, the 4 methods without word: 4 x 4 x 3 + 6 + 18 = 72.
    assert len(full) == 120 + 72 and {run.transfer_method for run in full} == {"copy"}


def test_full_set_and_ablation_use_the_best_pair():
    plan = Plan(
        recipes=("best",), sizes=(250,), seeds=(1,), combinations=("char+classifier", "char"),
        transfer_methods=("copy", "joint"), full_set_combinations=("char+classifier",), ablation_size=500,
    )  # fmt: skip
    names = [run.name for run in plan_runs(plan, {"best": "char__joint"})]
    assert names[5:] == [
        "scratch__nfull__seed1", "char+classifier__nfull__seed1", "char__nfull__seed1__joint",
        "scratch__n500__seed1", "char__n500__seed1__joint",
        "scratch__n500__seed1__char-japanese_word-japanese", "char__n500__seed1__char-japanese_word-japanese__joint",
        "scratch__n500__seed1__char-romaji_word-romaji", "char__n500__seed1__char-romaji_word-romaji__joint",
        "scratch__n500__seed1__char-japanese_word-romaji", "char__n500__seed1__char-japanese_word-romaji__joint",
    ]  # fmt: skip


def test_unknown_or_inapplicable_transfer_method_in_a_plan_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown transfer method 'shared'; transfer methods: copy, shared-space, "):
        Plan(transfer_methods=("copy", "shared"))
    with pytest.raises(ValueError, match="no run of the plan has transfer method shared-space: .* not char"):
        replace(FULL_PLAN, combinations=("char",), transfer_methods=("shared-space",))
    with pytest.raises(ValueError, match="no run of the plan has transfer method shared-space: .* recipe paper has none"):
        replace(FULL_PLAN, recipes=("paper",), combinations=("all",), transfer_methods=("shared-space",))


def _method_context(tmp_path: Path) -> Context:
    sources = {("best", False): "english", ("best", True): "english-code-switch", ("paper", True): "english-code-switch-paper"}
    return Context(data={"ja": FILES, "en": ENGLISH_FILES}, sources=sources, output_dir=tmp_path, plan=FULL_PLAN)


@pytest.mark.parametrize(
    "transfer_method, source, word_space, script_shapes, joint_data, translated",
    [
        ("copy", "english", False, False, None, False),
        ("shared-space", "english", True, False, None, False),
        ("shared-space+shapes", "english", True, True, None, False),
        ("code-switch", "english-code-switch", False, False, None, False),
        ("code-switch+space+shapes", "english-code-switch", True, True, None, False),
        ("joint", "english", False, False, "en/train.txt", False),
        ("translated-rows", "english", True, True, None, True),
    ],
)  # fmt: skip
def test_transfer_setup_follows_the_transfer_method(tmp_path, transfer_method, source, word_space, script_shapes, joint_data, translated):
    run = Run("all", 500, 1, transfer_method=transfer_method)
    found_source, options = reproduce_module.transfer_setup(run, _method_context(tmp_path))
    assert found_source == source
    assert options.word_space_map == (str(tmp_path / "ja_en_map.pt") if word_space else None)
    assert (options.script_shapes, options.joint_data, options.translated_word_rows) == (script_shapes, joint_data, translated)
    # The plan's transfer options, whatever the method.
    assert options.modules == ("word", "char", "classifier")
    assert (options.shared_bigrams, options.freeze_transferred_epochs, options.transferred_lr_scale) == (True, 0, None)


def test_transfer_setup_takes_the_recipes_code_switched_source(tmp_path):
    run = Run("char+classifier", 250, 2, recipe="paper", transfer_method="code-switch")
    source, options = reproduce_module.transfer_setup(run, _method_context(tmp_path))
    assert source == "english-code-switch-paper" and options.modules == ("char", "classifier") and options.word_space_map is None


def test_run_one_transfers_with_the_method_and_records_it(tmp_path, monkeypatch):
    import modeling_xlner.training.transfer as training

    seen = {}

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        seen.update(source=source, transfer=transfer_options)
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.5, 0.5))

    monkeypatch.setattr(training, "transfer", fake_transfer)
    results = reproduce_module._run_one(Run("char+classifier", 500, 1, transfer_method="joint"), _method_context(tmp_path))
    assert seen["source"] == "english" and seen["transfer"].joint_data == "en/train.txt"
    assert (results.run.name, results.run.transfer_method) == ("char+classifier__n500__seed1__joint", "joint")
    saved = Results.load(tmp_path / "runs" / "char+classifier__n500__seed1__joint" / "results.json")
    assert saved.run.transfer_method == "joint"


def test_joint_finetune_fine_tunes_its_joint_run_with_every_module(tmp_path, monkeypatch):
    import modeling_xlner.training.transfer as training

    calls = []

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        calls.append((source, Path(output), transfer_options))
        Path(output).mkdir(parents=True)
        return Results.from_dict(_trained(0.4 + 0.1 * len(calls), 0.5))

    monkeypatch.setattr(training, "transfer", fake_transfer)
    run = Run("char+classifier", 250, 2, transfer_method="joint+finetune")
    assert reproduce_module.joint_stage(run) == Run("char+classifier", 250, 2, transfer_method="joint")
    results = reproduce_module._run_one(run, _method_context(tmp_path))
    joint_dir = tmp_path / "runs" / "char+classifier__n250__seed2__joint"
    (joint_source, joint_output, joint_options), (source, output, options) = calls
    assert joint_source == "english" and joint_output == joint_dir and joint_options.joint_data == "en/train.txt"
    assert source == str(joint_dir) and output == tmp_path / "runs" / run.name  # the second stage reads the first
    assert options.modules == ("word", "char", "classifier") and options.joint_data is None
    assert results.transfer_options["joint_stage"]["output_dir"] == str(joint_dir)
    assert results.transfer_options["joint_stage"]["test_f1"] == pytest.approx(0.5)  # the first call's test F1
    assert Results.load(output / "results.json").run.transfer_method == "joint+finetune"
    assert Results.load(joint_dir / "results.json").run.transfer_method == "joint"  # kept: a run of its own
    reproduce_module._run_one(Run("char+classifier", 250, 2, transfer_method="joint"), _method_context(tmp_path))
    assert len(calls) == 2  # the joint stage is done: not trained again


def _training_order(runs: list[Run], tmp_path: Path, monkeypatch) -> list[str]:
    """The names of `runs` in the order `run_all` trains them (one job), its results checked to be in list order."""
    order = []

    def fake_run_one(run, context):
        order.append(run.name)
        return run.name

    monkeypatch.setattr(reproduce_module, "_run_one", fake_run_one)
    assert reproduce_module.run_all(runs, _method_context(tmp_path), jobs=1) == [run.name for run in runs]
    return order


def test_run_all_runs_the_fine_tuning_after_the_rest_in_order(tmp_path, monkeypatch):
    runs = [
        Run("char+classifier", 250, 1, transfer_method="joint+finetune"), Run("scratch", 250, 1),
        Run("char+classifier", 250, 1, transfer_method="joint"),
    ]  # fmt: skip
    assert _training_order(runs, tmp_path, monkeypatch) == [runs[1].name, runs[2].name, runs[0].name]


def test_runs_sharing_voting_teachers_wait_for_the_one_that_trains_them(tmp_path, monkeypatch):
    mixed, gold, vote = "self-training+mixed-vote", "self-training+mixed-vote+gold-x4", "self-training+vote"
    runs = [
        Run("scratch", 250, 1, transfer_method=mixed), Run("scratch", 250, 1, transfer_method=gold),
        Run("char+classifier", 250, 1, transfer_method=mixed), Run("char+classifier", 250, 1, transfer_method=gold),
        Run("char+classifier", 250, 1, transfer_method=vote), Run("char+classifier", 250, 1),
    ]  # fmt: skip
    order = _training_order(runs, tmp_path, monkeypatch)
    # By hand: the plain run first; then one run of each pool (scratch's five, the copy's 3 + 2 scratch, the
    # copy's three); then the second run of the two pools shared.
    assert order == [runs[5].name, runs[0].name, runs[2].name, runs[4].name, runs[1].name, runs[3].name]
    pools = [reproduce_module.teacher_pool(run) for run in runs]
    assert pools == [
        "scratch__n250__seed1__teachers5", "scratch__n250__seed1__teachers5",
        "char+classifier__n250__seed1__teachers5-scratch2", "char+classifier__n250__seed1__teachers5-scratch2",
        "char+classifier__n250__seed1__teachers3", None,
    ]  # fmt: skip
    # The mixed vote's word-space form: taught first by the translated-rows run, its teachers pooled apart.
    word_run = Run("all", 250, 1, transfer_method="translated-rows+self-training+mixed-vote")
    assert reproduce_module.teacher_stage(word_run).name == "all__n250__seed1__translated-rows"
    assert reproduce_module.teacher_pool(word_run) == "all__n250__seed1__translated-rows__teachers5-scratch2"


def test_a_run_record_from_before_transfer_methods_is_a_copy():
    result = _result("char", 500, 1, 0.4, 0.4)
    assert "transfer_method" not in result["run"]
    assert Results.from_dict(result).run.transfer_method == "copy"


def test_code_switched_sources_are_trained_apart(tmp_path, captured):
    assert reproduce_module.source_dir(tmp_path, "best", code_switched=True) == tmp_path / "english-code-switch"
    assert reproduce_module.source_dir(tmp_path, "paper", code_switched=True) == tmp_path / "english-code-switch-paper"
    assert reproduce_module.source_dir(tmp_path, "paper") == tmp_path / "english-paper"
    context = Context(data={"en": FILES}, sources={}, output_dir=tmp_path, plan=FULL_PLAN)
    assert reproduce_module.pretrain_english("best", context, code_switched=True) == str(tmp_path / "english-code-switch")
    assert reproduce_module.pretrain_english("best", context) == str(tmp_path / "english")
    assert captured[0]["options"].code_switch_rate == 0.3 and captured[1]["options"].code_switch_rate == 0.0
    # A plain source where the code-switched one is expected (or the other way round) is refused.
    (tmp_path / "english-code-switch" / "results.json").parent.mkdir(exist_ok=True)
    Results.from_dict(_trained(0.85, 0.86) | {"options": asdict(recipe_options("best"))}).save(
        tmp_path / "english-code-switch" / "results.json"
    )
    with pytest.raises(ValueError, match=r"code_switch_rate=0\.0 \(expected: 0\.3\)"):
        reproduce_module.pretrain_english("best", context, code_switched=True)


def test_reproduce_prepares_the_sources_and_the_map_the_runs_need(tmp_path, monkeypatch):
    import torch

    from modeling_xlner.training import word_space

    pretrained, built = [], []

    def fake_pretrain(recipe, context, code_switched=False):
        pretrained.append((recipe, code_switched))
        return f"en-{recipe}" + ("-cs" if code_switched else "")

    def fake_build(*args):
        built.append(args)  # as `xlner word-space` calls it without flags: the defaults
        return word_space.WordSpaceMap(torch.zeros(3, 2), "glove-6b-50d", "chive", "alkana")

    seen = {}

    def fake_run_all(runs, context, jobs):
        seen.update(sources=dict(context.sources))
        for run in runs:
            folder = tmp_path / "runs" / run.name
            folder.mkdir(parents=True)
            result = _result(run.method, run.size, run.seed, 0.4, 0.4, recipe=run.recipe, transfer_method=run.transfer_method)
            Results.from_dict(result).save(folder / "results.json")

    monkeypatch.setattr(reproduce_module, "pretrain_english", fake_pretrain)
    monkeypatch.setattr(word_space, "build_word_space_map", fake_build)
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: {})
    monkeypatch.setattr(reproduce_module, "run_all", fake_run_all)
    names = ["all__n500__seed1__shared-space", "char__n500__seed1__code-switch", "scratch__n500__seed1__paper"]
    report = reproduce_module.reproduce(tmp_path, data_dir="data", only=names)
    assert pretrained == [("best", False), ("best", True)]
    assert seen["sources"] == {("best", False): "en-best", ("best", True): "en-best-cs"}
    assert built == [()] and torch.load(tmp_path / "ja_en_map.pt")["target_to_source"].shape == (3, 2)
    assert sorted(report["sources"]) == ["best", "best, code-switched", "paper"]
    assert report["sources"]["best, code-switched"]["path"] == str(tmp_path / "english-code-switch")
    reproduce_module.reproduce(tmp_path, data_dir="data", only=["word__n250__seed1__shared-space"])
    assert len(built) == 1  # the map is built once


@pytest.mark.parametrize("jobs, beside", [(2, ["scratch__n500__seed1"]), (1, [])])
def test_scratch_runs_train_beside_the_english_pretraining(tmp_path, monkeypatch, jobs, beside):
    """With a job to spare, the pool that pretrains the source also trains the scratch runs (they need none)."""
    pools, trained = [], []

    def fake_map(function, items, context, jobs):
        pools.append([item if isinstance(item, tuple) else item.name for item in items])
        return [function(item, context) for item in items]

    def fake_run_one(run, context):
        done = tmp_path / "runs" / run.name / "results.json"
        if not done.exists():
            trained.append(run.name)
            done.parent.mkdir(parents=True)
            Results.from_dict(_result(run.method, run.size, run.seed, 0.4, 0.4, transfer_method=run.transfer_method)).save(done)
        return Results.load(done)

    monkeypatch.setattr(reproduce_module, "_map", fake_map)
    monkeypatch.setattr(reproduce_module, "_run_one", fake_run_one)
    monkeypatch.setattr(reproduce_module, "pretrain_english", lambda recipe, context, code_switched=False: f"en-{recipe}")
    monkeypatch.setattr(reproduce_module, "build_word_space_map_file", lambda output_dir: "map.pt")
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: {})
    names = ["scratch__n500__seed1", "all__n500__seed1__translated-rows"]
    reproduce_module.reproduce(tmp_path, data_dir="data", only=names, jobs=jobs)
    assert pools[0] == [("best", False), *beside] and pools[1] == names
    assert sorted(trained) == sorted(names), "every run trained once"


def test_a_code_switched_method_with_source_needs_a_code_switched_source(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce_module, "local_data", lambda data_dir: pytest.fail("must fail before reading data"))
    with pytest.raises(ValueError, match="transfer methods code-switch need a code-switched English source: pass --code-switch-source"):
        reproduce_module.reproduce(tmp_path, data_dir="data", source="english", only=["char__n500__seed1__code-switch"])


def test_best_pair_and_tables_name_the_transfer_method():
    results = _typed([
        _result("scratch", 500, 1, 0.40, 0.41),
        _result("all", 500, 1, 0.50, 0.45),
        _result("all", 500, 1, 0.52, 0.55, transfer_method="shared-space"),  # best on validation
        _result("char", 500, 1, 0.60, 0.44, transfer_method="joint"),  # best on test: never chosen
    ])  # fmt: skip
    summary = summarize(results) | {"ablation_size": None}
    assert [(r["method"], r["transfer_method"]) for r in summary["rows"]] == [
        ("scratch", "copy"), ("all", "copy"), ("all", "shared-space"), ("char", "joint"),
    ]  # fmt: skip
    assert best_combinations(summary) == {"best": "all__shared-space"}
    table = markdown_table(summary, best_combinations(summary))
    lines = table.splitlines()
    f1_table = lines[: lines.index("## Epochs to best validation F1, mean over seeds")]
    assert [line for line in f1_table if line.startswith("| best /")] == [
        "| best / scratch | 40.0 (1 seed) | 10.0 |",
        "| best / all | 50.0 (1 seed) | 10.0 |",
        "| best / **all (shared-space)** (best on validation) | 52.0 (1 seed) | 10.0 |",
        "| best / char (joint) | 60.0 (1 seed) | 10.0 |",
    ]
    assert "Gain of all (shared-space) over scratch (best): n=500: +12.0" in lines


def test_ablation_columns_name_the_transfer_method():
    inputs = "char=japanese,word=japanese"
    results = _typed([
        _result("scratch", 500, 1, 0.30, 0.31, inputs=inputs),
        _result("all", 500, 1, 0.32, 0.31, inputs=inputs, transfer_method="joint"),
    ])  # fmt: skip
    table = markdown_table(summarize(results) | {"ablation_size": 500}, {})
    assert "| inputs | best / scratch | best / all (joint) |" in table
    assert "| char=japanese,word=japanese | 30.0 (1 seed) | 32.0 (1 seed) |" in table


def test_reproduce_transfer_methods_flag(capsys):
    parse = lambda *argv: reproduce_plan(build_parser().parse_args(["reproduce", "--output-dir", "o", *argv]))  # noqa: E731
    assert parse().transfer_methods == parse("--quick").transfer_methods == ("copy",)
    assert parse("--transfer-methods", "copy", "joint", "copy") == replace(FULL_PLAN, transfer_methods=("copy", "joint"))
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["reproduce", "--output-dir", "o", "--transfer-methods", "copy", "sharedspace"])
    assert exit_info.value.code == 2
    assert "argument --transfer-methods: unknown transfer method 'sharedspace'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--help"])
    lines = capsys.readouterr().out.splitlines()
    for name, text in TRANSFER_METHOD_HELP.items():
        assert any(line.split() == [name, *text.split()] for line in lines), name
    args = build_parser().parse_args(["reproduce", "--output-dir", "o", "--source", "en", "--code-switch-source", "en-cs"])
    assert (args.source, args.code_switch_source) == ("en", "en-cs")


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


# ---------------------------------------------------------------------------------- zero-shot


def test_zero_shot_runs_take_each_method_with_its_widest_classifier_combination():
    from modeling_xlner.training.reproduce import ZeroShotRun, zero_shot_runs

    # The full plan: copy (char+classifier: word cannot be copied from GloVe to chiVe) and the module table's method.
    assert zero_shot_runs(FULL_PLAN) == [ZeroShotRun("copy", "char+classifier"), ZeroShotRun("translated-rows", "all")]
    assert zero_shot_runs(QUICK_PLAN) == [] and zero_shot_runs(Plan()) == []
    plan = replace(Plan(), transfer_methods=tuple(TRANSFER_METHODS), zero_shot=True)
    # By hand, from the rules: joint trains on Japanese labels (never zero-shot); the paper's recipe has no
    # vectors, so no map and a plain copy of word; under best every method without the map stops at char+classifier.
    # A self-training method's zero-shot run is a student of its zero-shot teacher, so it has a row of its own.
    assert [(z.recipe, z.transfer_method, z.combination) for z in zero_shot_runs(plan)] == [
        ("paper", "copy", "all"), ("paper", "code-switch", "all"), ("paper", "self-training", "all"),
        ("best", "copy", "char+classifier"), ("best", "shared-space", "all"), ("best", "shared-space+shapes", "all"),
        ("best", "code-switch", "char+classifier"), ("best", "code-switch+space+shapes", "all"), ("best", "translated-rows", "all"),
        ("best", "self-training", "char+classifier"), ("best", "translated-rows+self-training", "all"),
    ]  # fmt: skip
    assert [z.name for z in zero_shot_runs(replace(plan, recipes=("paper",), transfer_methods=("copy", "code-switch", "joint")))] == ["copy__paper", "code-switch__paper"]


def test_zero_shot_run_is_scored_once_and_reported(tmp_path, monkeypatch):
    import modeling_xlner.training.transfer as training
    from modeling_xlner.training.reproduce import ZeroShotRun, collect_zero_shot, zero_shot_table

    calls = []

    def fake_transfer(source, language, train, validation, output, options, transfer_options, test):
        calls.append((source, transfer_options, options.seed))
        record = {"test": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "n_gold": 8, "n_pred": 4, "per_type": {"PER": {"f1": 0.4}}}}
        Path(output).mkdir(parents=True)
        (Path(output) / "zero_shot.json").write_text(json.dumps(record), encoding="utf-8")  # as zero_shot writes it, run-less
        return record

    monkeypatch.setattr(training, "transfer", fake_transfer)
    context = _method_context(tmp_path)
    for _ in range(2):  # the second finds the finished file and scores nothing
        reproduce_module._zero_shot_one(ZeroShotRun("translated-rows", "all"), context)
    assert len(calls) == 1
    source, options, seed = calls[0]
    assert (source, seed, options.zero_shot, options.modules) == ("english", 1, True, ("word", "char", "classifier"))
    assert options.word_space_map == str(tmp_path / "ja_en_map.pt") and options.translated_word_rows
    [row] = collect_zero_shot(tmp_path)
    assert (row["name"], row["recipe"], row["combination"], row["f1"], row["per_type_f1"]) == (
        "translated-rows", "best", "all", 1 / 3, {"PER": 0.4}
    )
    assert zero_shot_table([row])[-1] == "| best / translated-rows (all) | 33.3 | 50.0 | 25.0 | 40.0 |"
    # A zero_shot.json without the run record (a run of `xlner transfer --zero-shot` put there) is named.
    (tmp_path / "zero-shot" / "copy").mkdir()
    (tmp_path / "zero-shot" / "copy" / "zero_shot.json").write_text(json.dumps({"test": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="copy/zero_shot.json: not a zero-shot run of xlner reproduce"):
        collect_zero_shot(tmp_path)
