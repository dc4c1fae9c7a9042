"""The accuracy figures of the README: the default recipe on Stockmark ja (500 sentences, full) and CoNLL-2003
en (full), 3 seeds each, and the ablation (each part of the recipe off in turn), with `xlner train`.

Command, from the repository root (the `vectors` extra installed):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/accuracy.py --data-dir ../shared/data --output-dir runs/accuracy --jobs 2

Every run is `xlner train ... --threads 1 --seed S` plus its variant's flags, into OUTPUT_DIR/<name>; a run
whose results.json exists is not run again, so an interrupted grid resumes where it stopped (`--only`
narrows it to some names; `--report-only` trains nothing). Runs go in priority order: the first seed of
every headline figure, then their other seeds, then the ablation. The report (OUTPUT_DIR/accuracy.md and
.json) gives test F1 mean ± std over the seeds that finished, best epoch, seconds per epoch and wall seconds
to the best epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# The ablation: each part of the default recipe off in turn (and all of them: the paper's model and schedule).
PAPER_SCHEDULE = ["--batch-size", "32", "--learning-rate", "2e-3", "--epochs", "80", "--patience", "10"]
VARIANTS = {
    "default": [],
    "no-vectors": ["--vectors", "none"],
    "no-part-of-speech": ["--no-part-of-speech"],
    "no-crf": ["--no-crf"],
    "paper-schedule": PAPER_SCHEDULE,
    "paper": ["--vectors", "none", "--no-part-of-speech", "--no-crf", *PAPER_SCHEDULE],
    # Not an ablation: the default recipe trained three times longer, to show where it converges.
    "long": ["--epochs", "60", "--patience", "10"],
}
ENGLISH_VARIANTS = ("default", "no-vectors", "no-crf", "paper-schedule", "long")  # English has no UniDic or kanji
SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Run:
    corpus: str  # "ja500", "ja1000", "jafull", "enfull"
    variant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.corpus}__{self.variant}__seed{self.seed}"


def plan() -> list[Run]:
    """Priority order: seed 1 of each headline figure, the cheap 500-sentence runs (seeds, then the ablation),
    the full-set seeds, then the full-set ablation (3 seeds at ja500, 1 elsewhere)."""
    ablation = [variant for variant in VARIANTS if variant not in ("default", "long")]
    runs = [Run(corpus, "default", 1) for corpus in ("ja500", "jafull", "enfull")]
    runs += [Run("ja1000", "default", 1), Run("ja500", "long", 1), Run("ja1000", "long", 1)]
    runs += [Run("ja500", "default", seed) for seed in SEEDS[1:]]
    runs += [Run("ja500", variant, 1) for variant in ablation]
    runs += [Run("jafull", "default", seed) for seed in SEEDS[1:]]
    runs += [Run("ja500", variant, seed) for seed in SEEDS[1:] for variant in ablation]
    runs += [Run("enfull", "default", seed) for seed in SEEDS[1:]]
    runs += [Run("jafull", variant, 1) for variant in ablation if variant != "paper"]
    runs += [Run("enfull", variant, 1) for variant in ENGLISH_VARIANTS if variant not in ("default", "long")]
    runs += [Run("jafull", "long", 1), Run("enfull", "long", 1)]
    return runs


def command(run: Run, data_dir: Path, output_dir: Path) -> list[str]:
    if run.corpus.startswith("ja"):
        folder = data_dir / "ner-wikipedia-ja"
        files = [folder / "train.jsonl", folder / "validation.jsonl", folder / "test.jsonl"]
        language, variant = "ja", VARIANTS[run.variant]
    else:
        folder = data_dir / "conll2003"
        files = [folder / "train.txt", folder / "valid.txt", folder / "test.txt"]
        language = "en"
        variant = [flag for flag in VARIANTS[run.variant] if flag not in ("--no-part-of-speech",)]
    size = {"ja500": ["--max-train-samples", "500"], "ja1000": ["--max-train-samples", "1000"]}.get(run.corpus, [])
    return [
        sys.executable, "-m", "modeling_xlner.cli", "train", "--lang", language,
        "--train", str(files[0]), "--validation", str(files[1]), "--test", str(files[2]),
        "--output-dir", str(output_dir / run.name), "--seed", str(run.seed), "--threads", "1", *size, *variant,
    ]  # fmt: skip


def run_one(run: Run, data_dir: Path, output_dir: Path) -> None:
    if (output_dir / run.name / "results.json").exists():
        return
    (output_dir / run.name).mkdir(parents=True, exist_ok=True)
    with open(output_dir / run.name / "train.log", "w", encoding="utf-8") as log:
        environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
        completed = subprocess.run(command(run, data_dir, output_dir), stdout=log, stderr=subprocess.STDOUT, env=environment)
    print(f"{run.name}: {'done' if completed.returncode == 0 else f'FAILED (exit {completed.returncode}), see train.log'}", flush=True)


def report(output_dir: Path) -> dict:
    """Mean ± std of each (corpus, variant) over its finished seeds; markdown and JSON."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in plan():
        path = output_dir / run.name / "results.json"
        if path.exists():
            groups.setdefault((run.corpus, run.variant), []).append(json.loads(path.read_text(encoding="utf-8")))
    rows = []
    for (corpus, variant), results in groups.items():
        f1 = [r["test"]["f1"] for r in results]
        rows.append({
            "corpus": corpus, "variant": variant, "seeds": len(results),
            "test_f1_mean": statistics.fmean(f1), "test_f1_std": statistics.stdev(f1) if len(f1) > 1 else None,
            "best_epoch": statistics.fmean(r["best_epoch"] or r["epochs_trained"] for r in results),
            "epochs_trained": statistics.fmean(r["epochs_trained"] for r in results),
            "seconds_per_epoch": statistics.fmean(r["seconds_per_epoch"] for r in results),
            "seconds_to_best_epoch": statistics.fmean(r.get("seconds_to_best_epoch") or 0 for r in results),
        })  # fmt: skip
    lines = ["| corpus | variant | test F1 ×100 | seeds | best epoch / trained | s/epoch | s to best epoch |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        spread = f" ± {100 * row['test_f1_std']:.1f}" if row["test_f1_std"] is not None else ""
        lines.append(
            f"| {row['corpus']} | {row['variant']} | {100 * row['test_f1_mean']:.1f}{spread} | {row['seeds']} | "
            f"{row['best_epoch']:.1f} / {row['epochs_trained']:.1f} | {row['seconds_per_epoch']:.1f} | {row['seconds_to_best_epoch']:.0f} |"
        )
    (output_dir / "accuracy.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output_dir / "accuracy.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--output-dir", default="runs/accuracy")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (1 torch thread each)")
    parser.add_argument("--only", nargs="*", help="run names (CORPUS__VARIANT__seedN) to train, in this order")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    output_dir = Path(args.output_dir)
    runs = plan()
    if args.only:
        known = {run.name: run for run in runs}
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"unknown run names {unknown}; known: {', '.join(known)}")
        runs = [known[name] for name in args.only]
    if not args.report_only:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(lambda run: run_one(run, Path(args.data_dir), output_dir), runs))
    report(output_dir)


if __name__ == "__main__":
    main()
