"""`xlner reproduce`: the paper's experiments on the public data, end to end.

English pretraining on CoNLL-2003, then Japanese (Stockmark Wikipedia NER) from scratch against
transfer of each module combination, over training sizes and seeds, plus the romanisation
ablation. Every run lands in OUTPUT_DIR/runs/<name>/results.json; a run whose results.json
exists is not run again, so an interrupted reproduction picks up where it stopped. The summary
is OUTPUT_DIR/results.json, results.md and learning_curve.png.
"""

import json
import logging
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .results import Results, RunRecord

logger = logging.getLogger(__name__)

# The paper's module combinations; "classifier" is the word-level bi-LSTM plus the output layer.
COMBINATIONS = {
    "char": ("char",),
    "word": ("word",),
    "classifier": ("classifier",),
    "char+classifier": ("char", "classifier"),
    "char+word": ("char", "word"),
    "word+classifier": ("word", "classifier"),
    "all": ("word", "char", "classifier"),
}
# Romanisation ablation: (bigram input, word input) of the Japanese tokenizer.
INPUT_VARIANTS = {
    "char=romaji,word=japanese": ("romaji", "surface"),
    "char=japanese,word=japanese": ("surface", "surface"),
    "char=romaji,word=romaji": ("romaji", "romaji"),
    "char=japanese,word=romaji": ("surface", "romaji"),
}
DEFAULT_INPUT = "char=romaji,word=japanese"

CONLL_FILES = {"train": "conll2003/train.txt", "validation": "conll2003/valid.txt", "test": "conll2003/test.txt"}
STOCKMARK_FILES = {
    "train": "ner-wikipedia-ja/train.jsonl",
    "validation": "ner-wikipedia-ja/validation.jsonl",
    "test": "ner-wikipedia-ja/test.jsonl",
}
STOCKMARK_URL = "https://raw.githubusercontent.com/stockmarkteam/ner-wikipedia-dataset/main/ner.json"
CONLL_HUB_ID = "eriktks/conll2003"


@dataclass
class Plan:
    """Which runs make up a reproduction."""

    english_train_samples: int | None = None
    english_epochs: int = 40
    english_patience: int | None = 5
    sizes: tuple[int, ...] = (250, 500, 1000, 2000)
    seeds: tuple[int, ...] = (1, 2, 3)
    combinations: tuple[str, ...] = tuple(COMBINATIONS)
    full_set_combinations: tuple[str, ...] = ("char+classifier",)  # plus scratch and the best combination
    ablation_size: int | None = 500
    epochs: int = 80
    patience: int | None = 10
    # How transfer runs treat the copied modules (see `TransferOptions`).
    shared_bigrams: bool = True
    freeze_transferred_epochs: int = 0
    transferred_lr_scale: float | None = None
    # XLNerConfig hyperparameters of every run, English and Japanese (`--set`); empty: the defaults.
    model_config: dict[str, Any] = field(default_factory=dict)


FULL_PLAN = Plan()
# Small enough for CI (< 10 minutes on 2 cores), large enough that every step learns something:
# fewer steps than this leave both languages at F1 0 (the early epochs of a scratch run).
QUICK_PLAN = Plan(
    english_train_samples=3000,
    english_epochs=4,
    english_patience=None,
    sizes=(500,),
    seeds=(1,),
    combinations=("char+classifier",),
    full_set_combinations=(),
    ablation_size=500,
    epochs=8,
    patience=None,
)


@dataclass(frozen=True)
class Run:
    """One Japanese training run."""

    method: str  # "scratch" or a key of COMBINATIONS
    size: int | None  # None: the full training set
    seed: int
    inputs: str = DEFAULT_INPUT

    @property
    def name(self) -> str:
        size = "full" if self.size is None else str(self.size)
        inputs = "" if self.inputs == DEFAULT_INPUT else "__" + self.inputs.replace(",", "_").replace("=", "-")
        return f"{self.method}__n{size}__seed{self.seed}{inputs}"

    @classmethod
    def from_name(cls, name: str) -> "Run":
        """The run a name (as in OUTPUT_DIR/runs) stands for: `char+classifier__n500__seed1`."""
        parts = name.split("__")
        try:
            method, size, seed = parts[0], parts[1].removeprefix("n"), int(parts[2].removeprefix("seed"))
            inputs = parts[3].replace("_", ",").replace("-", "=") if len(parts) == 4 else DEFAULT_INPUT
            run = cls(method, None if size == "full" else int(size), seed, inputs)
        except (IndexError, ValueError):
            run = None
        if run is None or len(parts) > 4 or run.method not in ("scratch", *COMBINATIONS) or run.inputs not in INPUT_VARIANTS:
            raise ValueError(
                f"run name {name!r}: expected METHOD__nSIZE__seedN[__INPUTS], METHOD scratch or one of "
                f"{', '.join(COMBINATIONS)}, SIZE a number or 'full' (e.g. char+classifier__n500__seed1)"
            )
        return run


@dataclass
class Context:
    data: dict[str, dict[str, str]]
    source: str
    output_dir: Path
    plan: Plan
    threads: int = 1


# ---------------------------------------------------------------------------------- data


def local_data(data_dir: Path) -> dict[str, dict[str, str]]:
    """The shared-data layout: conll2003/*.txt and ner-wikipedia-ja/*.jsonl."""
    data = {
        "en": {split: str(data_dir / path) for split, path in CONLL_FILES.items()},
        "ja": {split: str(data_dir / path) for split, path in STOCKMARK_FILES.items()},
    }
    missing = [path for files in data.values() for path in files.values() if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"--data-dir {data_dir}: missing {', '.join(missing)}")
    return data


def fetch_public_data(destination: Path) -> dict[str, dict[str, str]]:
    """Download CoNLL-2003 (through `datasets`) and Stockmark's ner.json, split the standard way.

    The Japanese split is the widely used one: `random.seed(42); random.shuffle(data)`, then
    80% / 10% / 10% for train / validation / test.
    """
    import urllib.request

    from .data import load_hub_split

    destination.mkdir(parents=True, exist_ok=True)
    try:
        for split, path in CONLL_FILES.items():
            target = destination / path
            if not target.exists():
                dataset = load_hub_split(CONLL_HUB_ID, split)
                target.parent.mkdir(parents=True, exist_ok=True)
                lines = ["\n".join(f"{t} {g}" for t, g in zip(ex["tokens"], ex["ner_tags"])) + "\n" for ex in dataset]
                target.write_text("\n".join(lines), encoding="utf-8")
        if not all((destination / path).exists() for path in STOCKMARK_FILES.values()):
            with urllib.request.urlopen(STOCKMARK_URL, timeout=60) as response:
                records = json.loads(response.read().decode("utf-8"))
            random.Random(42).shuffle(records)  # the same permutation as random.seed(42); random.shuffle(...)
            n_train, n_validation = int(len(records) * 0.8), int(len(records) * 0.9)
            parts = {"train": records[:n_train], "validation": records[n_train:n_validation], "test": records[n_validation:]}
            for split, path in STOCKMARK_FILES.items():
                target = destination / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in parts[split]), encoding="utf-8")
    except Exception as error:  # no network, Hub down, dataset moved: say so plainly
        raise SystemExit(
            f"xlner reproduce: cannot download the public data ({type(error).__name__}: {error}).\n"
            f"Tried the Hub dataset {CONLL_HUB_ID} and {STOCKMARK_URL}. "
            "Pass --data-dir with conll2003/{train,valid,test}.txt and ner-wikipedia-ja/{train,validation,test}.jsonl."
        ) from None
    return local_data(destination)


# ---------------------------------------------------------------------------------- runs


def plan_runs(plan: Plan, best_combination: str | None = None) -> list[Run]:
    """Scratch and every combination at every size and seed; the full set; the ablation."""
    runs = [Run(method, size, seed) for size in plan.sizes for seed in plan.seeds for method in ("scratch", *plan.combinations)]
    full = ["scratch", *plan.full_set_combinations]
    if best_combination and plan.full_set_combinations and best_combination not in full:
        full.append(best_combination)
    if plan.full_set_combinations:
        runs += [Run(method, None, seed) for seed in plan.seeds for method in full]
    if plan.ablation_size:
        transfer_method = best_combination or plan.combinations[0]
        runs += [
            Run(method, plan.ablation_size, seed, inputs)
            for inputs in INPUT_VARIANTS
            if inputs != DEFAULT_INPUT or plan.ablation_size not in plan.sizes
            for seed in plan.seeds
            for method in ("scratch", transfer_method)
        ]
    return list(dict.fromkeys(runs))


def _run_one(run: Run, context: Context) -> Results:
    """Train one Japanese model (in a worker process) and return its results, with the run record."""
    from .options import TrainingOptions, TransferOptions
    from .trainer import train
    from .transfer import transfer

    output = context.output_dir / "runs" / run.name
    done = output / "results.json"
    if done.exists():
        return Results.load(done)
    char_input, word_input = INPUT_VARIANTS[run.inputs]
    options = TrainingOptions(
        epochs=context.plan.epochs,
        patience=context.plan.patience,
        max_train_samples=run.size,
        seed=run.seed,
        threads=context.threads,
        tokenizer_options={"char_input": char_input, "word_input": word_input},
        model_config=context.plan.model_config,
    )
    files = context.data["ja"]
    started = time.perf_counter()
    if run.method == "scratch":
        results = train("ja", files["train"], files["validation"], output, options, files["test"])
    else:
        plan = context.plan
        transfer_options = TransferOptions(
            modules=COMBINATIONS[run.method],
            shared_bigrams=plan.shared_bigrams,
            freeze_transferred_epochs=plan.freeze_transferred_epochs,
            transferred_lr_scale=plan.transferred_lr_scale,
        )
        results = transfer(context.source, "ja", files["train"], files["validation"], output, options, transfer_options, files["test"])
    results.run = RunRecord(**asdict(run), name=run.name, wall_seconds=time.perf_counter() - started)
    results.save(done)  # written last: its presence marks the run as done
    _drop_checkpoints(output)
    return results


def _drop_checkpoints(output: Path) -> None:
    """Grid runs keep the final model and results; intermediate checkpoints would fill the disk."""
    import shutil

    shutil.rmtree(output / "checkpoints", ignore_errors=True)


def run_all(runs: list[Run], context: Context, jobs: int) -> list[Results]:
    if jobs <= 1:
        return [_run_one(run, context) for run in runs]
    import multiprocessing

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_run_one, runs, [context] * len(runs)))


def run_plan(plan: Plan, context: Context, jobs: int) -> list[Results]:
    """The size grid first; its validation scores pick the best combination for the full set and ablation."""
    grid = plan_runs(replace(plan, full_set_combinations=(), ablation_size=None))
    print(f"{len(grid)} Japanese runs in the size grid ...", file=sys.stderr)
    results = run_all(grid, context, jobs)
    best = best_combination(summarize(results))
    extra = [run for run in plan_runs(plan, best) if run not in grid]
    print(f"{len(extra)} more runs (full set, ablation; best combination: {best}) ...", file=sys.stderr)
    return results + run_all(extra, context, jobs)


def pretrain_english(context: Context, seed: int = 1) -> str:
    """Train the English source model on CoNLL-2003 (skipped when its results.json exists)."""
    from .options import TrainingOptions
    from .trainer import train

    output = context.output_dir / "english"
    if not (output / "results.json").exists():
        files = context.data["en"]
        options = TrainingOptions(
            epochs=context.plan.english_epochs,
            patience=context.plan.english_patience,
            max_train_samples=context.plan.english_train_samples,
            seed=seed,
            threads=context.threads,
            model_config=context.plan.model_config,
        )
        train("en", files["train"], files["validation"], output, options, files["test"])
        _drop_checkpoints(output)
    return str(output)


# ---------------------------------------------------------------------------------- summary


def _run_record(result: Results) -> RunRecord:
    if result.run is None:
        raise ValueError("results without a 'run' record: not a run of xlner reproduce")
    return result.run


def _test_f1(result: Results) -> float:
    if result.test is None:
        raise ValueError(f"run {_run_record(result).name}: no test scores (every reproduce run is tested)")
    return result.test.f1


def summarize(results: list[Results]) -> dict[str, Any]:
    """Mean, standard deviation and range of test F1 per (method, size, inputs); epochs to best."""
    groups: dict[tuple[str, str, str], list[Results]] = {}
    for result in results:
        run = _run_record(result)
        size = "full" if run.size is None else str(run.size)
        groups.setdefault((run.method, size, run.inputs), []).append(result)
    rows = []
    for (method, size, inputs), members in sorted(groups.items(), key=lambda item: _order(item[0])):
        test = [_test_f1(m) for m in members]
        validation = [m.validation.f1 for m in members]
        rows.append(
            {
                "method": method,
                "size": size,
                "inputs": inputs,
                "seeds": [_run_record(m).seed for m in members],
                "test_f1_mean": statistics.fmean(test),
                "test_f1_std": statistics.stdev(test) if len(test) > 1 else 0.0,
                "test_f1_min": min(test),
                "test_f1_max": max(test),
                "validation_f1_mean": statistics.fmean(validation),
                # A run without a best epoch (no evaluation) counts as its last.
                "best_epoch_mean": statistics.fmean(m.best_epoch or m.epochs_trained for m in members),
                "epochs_trained_mean": statistics.fmean(m.epochs_trained for m in members),
            }
        )
    return {"rows": rows}


def _order(key: tuple[str, str, str]) -> tuple:
    method, size, inputs = key
    methods = ["scratch", *COMBINATIONS]
    return (inputs != DEFAULT_INPUT, inputs, methods.index(method), float("inf") if size == "full" else int(size))


def best_combination(summary: dict[str, Any]) -> str | None:
    """The combination with the best mean VALIDATION F1 (test F1 is never used to choose).

    Averaged over the sizes that every combination was run at, so that a combination run at more
    (larger) sizes than the others does not win by its larger training sets alone.
    """
    scores: dict[str, dict[str, float]] = {}
    for row in summary["rows"]:
        if row["method"] != "scratch" and row["inputs"] == DEFAULT_INPUT and row["size"] != "full":
            scores.setdefault(row["method"], {})[row["size"]] = row["validation_f1_mean"]
    common = set.intersection(*(set(by_size) for by_size in scores.values())) if scores else set()
    if not common:
        return None
    return max(scores, key=lambda method: statistics.fmean(scores[method][size] for size in common))


def collect_results(output_dir: Path) -> list[Results]:
    """The results of every finished run in OUTPUT_DIR/runs (those with a results.json)."""
    results = []
    for path in sorted((output_dir / "runs").glob("*/results.json")):
        result = Results.load(path)
        if result.run is None:
            raise ValueError(f"{path}: not a run of xlner reproduce (no 'run' record)")
        results.append(result)
    if not results:
        raise FileNotFoundError(f"{output_dir / 'runs'}: no finished run to report on")
    return results


def _cell(row: dict[str, Any]) -> str:
    """Mean ± std over seeds, ×100; a single seed says so instead of showing a zero spread."""
    if len(row["seeds"]) == 1:
        return f"{100 * row['test_f1_mean']:.1f} (1 seed)"
    return f"{100 * row['test_f1_mean']:.1f} ± {100 * row['test_f1_std']:.1f}"


def markdown_table(summary: dict[str, Any], best: str | None) -> str:
    """Test F1 (mean ± std over seeds, ×100) per method and size, then the ablation."""
    rows = summary["rows"]
    sizes = sorted({r["size"] for r in rows}, key=lambda s: float("inf") if s == "full" else int(s))
    lines = ["## Japanese test F1 (Stockmark), mean ± std over seeds, ×100", ""]
    lines.append("| method | " + " | ".join(f"n={s}" for s in sizes) + " | epochs to best (mean) |")
    lines.append("|---|" + "---|" * (len(sizes) + 1))
    main = [r for r in rows if r["inputs"] == DEFAULT_INPUT]
    for method in dict.fromkeys(r["method"] for r in main):
        cells = {r["size"]: r for r in main if r["method"] == method}
        label = f"**{method}** (best)" if method == best else method
        values = [_cell(cells[s]) if s in cells else "" for s in sizes]
        epochs = statistics.fmean(c["best_epoch_mean"] for c in cells.values())
        lines.append(f"| {label} | " + " | ".join(values) + f" | {epochs:.1f} |")
    scratch = {r["size"]: r["test_f1_mean"] for r in main if r["method"] == "scratch"}
    if best:
        gains = [
            f"n={r['size']}: {100 * (r['test_f1_mean'] - scratch[r['size']]):+.1f}"
            for r in main
            if r["method"] == best and r["size"] in scratch
        ]
        lines += ["", f"Gain of {best} over scratch: " + ", ".join(gains)]
        half = [
            f"{best} at n={r['size']} ({100 * r['test_f1_mean']:.1f}) vs scratch at n={2 * int(r['size'])} ({100 * scratch[str(2 * int(r['size']))]:.1f})"
            for r in main
            if r["method"] == best and r["size"] != "full" and str(2 * int(r["size"])) in scratch
        ]
        if half:
            lines += ["", "Transfer at N against scratch at 2N: " + "; ".join(half)]
    # The ablation's methods: those run with other inputs (its transfer method was the best when it ran).
    at_size = [r for r in rows if r["size"] == str(summary.get("ablation_size"))]
    methods = [m for m in ["scratch", *COMBINATIONS] if any(r["method"] == m and r["inputs"] != DEFAULT_INPUT for r in at_size)]
    if methods:
        lines += ["", f"## Romanisation ablation at n={summary['ablation_size']} (test F1 ×100, mean ± std over seeds)", ""]
        lines += ["| inputs | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for inputs in INPUT_VARIANTS:
            cells = {r["method"]: r for r in at_size if r["inputs"] == inputs}
            values = [_cell(cells[m]) if m in cells else "" for m in methods]
            lines.append(f"| {inputs} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def plot_learning_curve(summary: dict[str, Any], best: str | None, path: Path) -> None:
    """Test F1 against training size: scratch and the best transfer, with the seed range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for method, colour in (("scratch", "tab:grey"), (best, "tab:blue")):
        points = sorted(
            (int(r["size"]), r) for r in summary["rows"] if r["method"] == method and r["inputs"] == DEFAULT_INPUT and r["size"] != "full"
        )
        if not points:
            continue
        sizes = [size for size, _ in points]
        axes.plot(sizes, [100 * r["test_f1_mean"] for _, r in points], marker="o", color=colour, label=method)
        axes.fill_between(
            sizes, [100 * r["test_f1_min"] for _, r in points], [100 * r["test_f1_max"] for _, r in points], color=colour, alpha=0.2
        )
    axes.set_xscale("log", base=2)
    ticks = sorted({int(r["size"]) for r in summary["rows"] if r["size"] != "full"})
    axes.set_xticks(ticks, [str(size) for size in ticks])
    axes.minorticks_off()
    axes.set_xlabel("Japanese training sentences")
    axes.set_ylabel("test span F1 (×100)")
    axes.set_title("Stockmark NER: scratch vs transfer (shaded: range over seeds)", fontsize=10)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def reproduce(
    output_dir: str | Path,
    data_dir: str | Path | None = None,
    quick: bool = False,
    source: str | None = None,
    jobs: int = 1,
    threads: int = 1,
    plan: Plan | None = None,
    report_only: bool = False,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run the plan's runs (those not yet done) and write the report.

    With `only`, train just the runs of these names (in this order, with the plan's training
    settings) instead of the plan's. With `report_only`, train nothing. Both then report on every
    finished run in OUTPUT_DIR/runs, whichever invocations made them: a grid built up in parts.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = plan or (QUICK_PLAN if quick else FULL_PLAN)
    selected = [Run.from_name(name) for name in only or []]  # bad names fail before any training
    if selected and report_only:
        raise ValueError("reproduce: train the named runs or report only, not both")
    started = time.perf_counter()
    if report_only:
        source = source or str(output_dir / "english")
        results = collect_results(output_dir)
    else:
        data = local_data(Path(data_dir)) if data_dir else fetch_public_data(output_dir / "data")
        context = Context(data=data, source=source or "", output_dir=output_dir, plan=plan, threads=threads)
        if not source:
            print("English pretraining on CoNLL-2003 ...", file=sys.stderr)
            context.source = pretrain_english(context)
        source = context.source
        if selected:
            print(f"{len(selected)} Japanese runs, as named ...", file=sys.stderr)
            run_all(selected, context, jobs)
            results = collect_results(output_dir)
        else:
            results = run_plan(plan, context, jobs)
    return write_report(results, plan, source, output_dir, time.perf_counter() - started, threads, jobs)


def write_report(
    results: list[Results], plan: Plan, source: str, output_dir: Path, wall_seconds: float, threads: int, jobs: int
) -> dict[str, Any]:
    """OUTPUT_DIR/results.json (the report), results.md (the tables) and learning_curve.png; returns the report."""
    summary = summarize(results)
    best = best_combination(summary)
    summary["ablation_size"] = plan.ablation_size
    # The source's own results.json, when it is a local folder of xlner train (a Hub id has none here).
    english = Results.load(Path(source) / "results.json") if (Path(source) / "results.json").is_file() else None
    report = {
        "plan": asdict(plan),
        "source": {
            "path": source,
            "test_f1": english.test.f1 if english and english.test else None,
            "seconds_per_epoch": english.seconds_per_epoch if english else None,
        },
        "best_combination": best,
        "summary": summary,
        "runs": [
            {
                **asdict(_run_record(r)),
                "test_f1": _test_f1(r),
                "validation_f1": r.validation.f1,
                "best_epoch": r.best_epoch,
                "epochs_trained": r.epochs_trained,
            }
            for r in results
        ],
        "wall_seconds": wall_seconds,
        "run_seconds_sum": sum(_run_record(r).wall_seconds for r in results),  # one process per run
        "threads_per_job": threads,
        "jobs": jobs,
    }
    (output_dir / "results.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    table = markdown_table(summary, best)
    if plan.patience is None:
        table += (
            f"\nEvery run stopped after {plan.epochs} epochs, before convergence: a gain here says how much faster "
            "transfer learns, not how much better it ends (the full plan trains each run to early stopping).\n"
        )
    source_line = f"English source: test F1 {100 * (report['source']['test_f1'] or 0):.1f} ({source})\n\n"
    (output_dir / "results.md").write_text(source_line + table, encoding="utf-8")
    plot_learning_curve(summary, best, output_dir / "learning_curve.png")
    print(table)
    return report
