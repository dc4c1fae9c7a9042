"""Checks the numbers of a finished `xlner reproduce` (CI runs it after `xlner reproduce --quick`).

Command, from the repository root:

    python benchmarks/check_quick_reproduction.py runs/reproduce-quick [--min-f1 0.2] [--min-english-f1 0.5]

It fails (exit status 1, one line per problem) unless every run learnt something and the report is
complete: the English source and every Japanese run of the plan's grid (each recipe × scratch and
each (transfer method, combination) × each size × each seed) have a finite test F1 above the floor,
and results.md's main table has a number in every (recipe / method) × size cell. The floors are far below what the
quick plan reaches here (English 0.84, Japanese about 0.55 to 0.65 at 200 and 400 sentences) and far above
what an untrained or broken model scores (about 0.0), so only a run that learnt nothing fails.
The grid is derived from the plan recorded in results.json, written out here rather than taken from
the package's planner, which is part of what this checks.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

MAIN_TABLE = "## Japanese test F1"
DEFAULT_INPUT = "char=romaji,word=japanese"  # the grid's inputs; other inputs are the romanisation ablation
DEFAULT_TRANSFER_METHOD = "copy"  # reports from before transfer methods: every transfer was a copy
# Where a transfer method runs: the word-space map needs `word` transferred and a recipe with vectors,
# and under a recipe with vectors (GloVe 50-d, chiVe 300-d) `word` crosses only by the map; the
# script shapes need `char`. reproduce does not run a method on a combination it does not apply to.
WORD_SPACE_METHODS = ("shared-space", "shared-space+shapes", "code-switch+space+shapes", "translated-rows")
SCRIPT_SHAPE_METHODS = ("shared-space+shapes", "code-switch+space+shapes", "translated-rows")
RECIPES_WITHOUT_VECTORS = ("paper", "no-vectors")
NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)(?:\s*±\s*\d+(?:\.\d+)?|\s*\(1 seed\))?\s*")


def applies(recipe: str, combination: str, transfer_method: str) -> bool:
    """Whether the plan runs this transfer method with this combination ("all" is word+char+classifier)."""
    modules = {"word", "char", "classifier"} if combination == "all" else set(combination.split("+"))
    if transfer_method in WORD_SPACE_METHODS and ("word" not in modules or recipe in RECIPES_WITHOUT_VECTORS):
        return False
    if transfer_method not in WORD_SPACE_METHODS and "word" in modules and recipe not in RECIPES_WITHOUT_VECTORS:
        return False
    return transfer_method not in SCRIPT_SHAPE_METHODS or "char" in modules


def grid_methods(plan: dict, recipe: str) -> list[tuple[str, str]]:
    """(method, transfer method) of a recipe's main grid: scratch, then every transfer method with every combination."""
    transfer_methods = plan.get("transfer_methods", [DEFAULT_TRANSFER_METHOD])
    return [("scratch", DEFAULT_TRANSFER_METHOD)] + [
        (combination, transfer_method)
        for transfer_method in transfer_methods
        for combination in plan["combinations"]
        if applies(recipe, combination, transfer_method)
    ]


def expected_runs(plan: dict) -> list[tuple[str, str, str, str, int]]:
    """(recipe, method, transfer method, size, seed) of the plan's main grid: scratch and every
    (transfer method, combination) at every size and seed."""
    return [
        (recipe, method, transfer_method, str(size), seed)
        for recipe in plan["recipes"]
        for method, transfer_method in grid_methods(plan, recipe)
        for size in plan["sizes"]
        for seed in plan["seeds"]
    ]


def method_label(method: str, transfer_method: str) -> str:
    """As results.md writes it: `all`, `all (shared-space)`."""
    return method if transfer_method == DEFAULT_TRANSFER_METHOD else f"{method} ({transfer_method})"


def learnt(f1: object, floor: float) -> bool:
    """A finite number above the floor (NaN, None and strings fail)."""
    return isinstance(f1, (int, float)) and not isinstance(f1, bool) and math.isfinite(f1) and f1 > floor


def run_problems(report: dict, min_f1: float) -> list[str]:
    """Runs of the grid that are missing, or whose test F1 is not above the floor."""
    found = {
        (
            r["recipe"], r["method"], r.get("transfer_method", DEFAULT_TRANSFER_METHOD),
            "full" if r["size"] is None else str(r["size"]), r["seed"],
        ): r
        for r in report["runs"]
        if r.get("inputs", DEFAULT_INPUT) == DEFAULT_INPUT
    }  # fmt: skip
    problems = []
    for key in expected_runs(report["plan"]):
        run = found.get(key)
        if run is None:
            recipe, method, transfer_method, size, seed = key
            problems.append(f"run {recipe} / {method_label(method, transfer_method)} at n={size} seed {seed}: missing")
        elif not learnt(run.get("test_f1"), min_f1):
            problems.append(f"run {run.get('name', key)}: test F1 {run.get('test_f1')!r} is not above {min_f1}")
    return problems


def source_problems(report: dict, min_f1: float) -> list[str]:
    """English sources whose test F1 is unknown or not above the floor (only recipes with transfer runs have one)."""
    return [
        f"English source ({recipe}, {record.get('path')}): test F1 {record.get('test_f1')!r} is not above {min_f1}"
        for recipe, record in report.get("sources", {}).items()
        if report["plan"]["combinations"] and not learnt(record.get("test_f1"), min_f1)
    ]


def main_table(markdown: str) -> list[list[str]]:
    """The cells of results.md's main table (header row first), or [] when it is absent."""
    lines = markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(MAIN_TABLE)), None)
    if start is None:
        return []
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break  # the blank line after the table
    return [row for row in rows if not set("".join(row)) <= set("-")]  # without the |---| line


def table_problems(markdown: str, plan: dict) -> list[str]:
    """(recipe / method) rows or size columns missing from the main table, and cells without a number."""
    rows = main_table(markdown)
    if not rows:
        return [f"results.md: no table under {MAIN_TABLE!r}"]
    header, body = rows[0], rows[1:]
    problems = []
    for recipe in plan["recipes"]:
        for method in (method_label(*pair) for pair in grid_methods(plan, recipe)):
            # The best one's label is bold and annotated: "best / **char+classifier** (best on validation)".
            labels = [r[0].replace("*", "").removesuffix(" (best on validation)") for r in body]
            row = body[labels.index(f"{recipe} / {method}")] if f"{recipe} / {method}" in labels else None
            if row is None:
                problems.append(f"results.md: no row for {recipe} / {method}")
                continue
            for size in plan["sizes"]:
                column = f"n={size}"
                if column not in header:
                    problems.append(f"results.md: no column {column}")
                    continue
                cell = row[header.index(column)] if header.index(column) < len(row) else ""
                if not NUMBER.fullmatch(cell):
                    problems.append(f"results.md: {recipe} / {method} at {column} is {cell!r}, not a number")
    return sorted(set(problems), key=problems.index)


def check(output_dir: Path, min_f1: float = 0.2, min_english_f1: float = 0.5) -> list[str]:
    """Every problem found in a reproduction's output folder (an empty list: it passes)."""
    try:
        report = json.loads((output_dir / "results.json").read_text(encoding="utf-8"))
        markdown = (output_dir / "results.md").read_text(encoding="utf-8")
    except (OSError, ValueError) as error:
        return [f"{output_dir}: no readable report ({error})"]
    return source_problems(report, min_english_f1) + run_problems(report, min_f1) + table_problems(markdown, report["plan"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", type=Path, help="the --output-dir of xlner reproduce")
    parser.add_argument("--min-f1", type=float, default=0.2, help="floor of every Japanese run's test F1 (default: 0.2)")
    parser.add_argument("--min-english-f1", type=float, default=0.5, help="floor of the English source's test F1 (default: 0.5)")
    args = parser.parse_args(argv)
    problems = check(args.output_dir, args.min_f1, args.min_english_f1)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{args.output_dir}: every run learnt something (test F1 > {args.min_f1}) and the tables are complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
