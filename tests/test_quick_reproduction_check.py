"""benchmarks/check_quick_reproduction.py (CI's check of `xlner reproduce --quick`) on fabricated report folders.

The folders are written by the package's own `write_report`, so the checker reads the real format;
the F1 values are made up: the README's quick figures for a passing run, near 0 for one that learnt nothing.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from modeling_xlner.training import reproduce as reproduce_module
from modeling_xlner.training.reproduce import QUICK_PLAN
from modeling_xlner.training.results import Results

from test_reproduce import _result, _trained, _typed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import check_quick_reproduction as checker  # noqa: E402

# Test F1 of the quick plan's four runs, near what it reaches here (see the README).
QUICK_F1 = {("scratch", 200): 0.55, ("scratch", 400): 0.62, ("char+classifier", 200): 0.56, ("char+classifier", 400): 0.63}


def write_quick_report(folder: Path, f1: dict | None = None, english_f1: float = 0.841) -> Path:
    """A reproduce output folder for the quick plan: the English source, four runs, results.json and results.md."""
    source = reproduce_module.source_dir(folder, "best")
    source.mkdir(parents=True)
    Results.from_dict(_trained(english_f1, english_f1)).save(source / "results.json")
    runs = [_result(method, size, 1, test, test + 0.01) for (method, size), test in (f1 or QUICK_F1).items()]
    reproduce_module.write_report(_typed(runs), QUICK_PLAN, {"best": str(source)}, folder, 1.0, 1, 2)
    return folder


def test_the_quick_figures_pass(tmp_path, capsys):
    folder = write_quick_report(tmp_path)
    assert checker.check(folder) == []
    assert checker.main([str(folder)]) == 0
    assert "every run learnt something" in capsys.readouterr().out


def test_a_run_that_learnt_nothing_fails(tmp_path, capsys):
    folder = write_quick_report(tmp_path, QUICK_F1 | {("char+classifier", 200): 0.03})
    assert checker.check(folder) == ["run char+classifier__n200__seed1: test F1 0.03 is not above 0.2"]
    assert checker.main([str(folder)]) == 1
    assert "char+classifier__n200__seed1" in capsys.readouterr().err


def test_an_english_source_that_learnt_nothing_fails(tmp_path):
    problems = checker.check(write_quick_report(tmp_path, english_f1=0.01))
    assert len(problems) == 1 and problems[0].startswith("English source (best") and "0.01 is not above 0.5" in problems[0]


def test_a_missing_run_fails_in_the_runs_and_in_the_table(tmp_path):
    folder = write_quick_report(tmp_path, {key: f1 for key, f1 in QUICK_F1.items() if key != ("scratch", 400)})
    assert checker.check(folder) == [
        "run best / scratch at n=400 seed 1: missing",
        "results.md: best / scratch at n=400 is '', not a number",
    ]


def test_nan_scores_fail(tmp_path):
    folder = write_quick_report(tmp_path)
    report = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    report["runs"][0]["test_f1"] = math.nan  # json writes NaN, and reads it back as a float
    (folder / "results.json").write_text(json.dumps(report), encoding="utf-8")
    markdown = (folder / "results.md").read_text(encoding="utf-8")
    (folder / "results.md").write_text(markdown.replace("55.0 (1 seed)", "nan (1 seed)"), encoding="utf-8")
    assert checker.check(folder) == [
        f"run {report['runs'][0]['name']}: test F1 nan is not above 0.2",
        "results.md: best / scratch at n=200 is 'nan (1 seed)', not a number",
    ]


@pytest.mark.parametrize("damage", ["no table", "no column", "no report"])
def test_an_incomplete_report_fails(tmp_path, damage):
    folder = write_quick_report(tmp_path)
    markdown = (folder / "results.md").read_text(encoding="utf-8")
    if damage == "no table":
        (folder / "results.md").write_text(markdown.replace(checker.MAIN_TABLE, "## Something else"), encoding="utf-8")
        expected = "results.md: no table under '## Japanese test F1'"
    elif damage == "no column":
        (folder / "results.md").write_text(markdown.replace("n=400", "n=4000", 1), encoding="utf-8")
        expected = "results.md: no column n=400"
    else:
        (folder / "results.json").unlink()
        expected = f"{folder}: no readable report"
    problems = checker.check(folder)
    assert problems and all(expected in problem for problem in problems[:1]), problems


def write_methods_report(folder: Path, skip: tuple | None = None) -> Path:
    """A report of a plan with two transfer methods (copy, joint): every (method, combination) at 200 and 400."""
    plan = replace(QUICK_PLAN, transfer_methods=("copy", "joint"))
    source = reproduce_module.source_dir(folder, "best")
    source.mkdir(parents=True)
    Results.from_dict(_trained(0.841, 0.841)).save(source / "results.json")
    grid = [("scratch", "copy"), ("char+classifier", "copy"), ("char+classifier", "joint")]
    runs = [
        _result(method, size, 1, 0.6, 0.61, transfer_method=transfer_method)
        for method, transfer_method in grid
        for size in (200, 400)
        if (method, transfer_method, size) != skip
    ]
    reproduce_module.write_report(_typed(runs), plan, {"best": str(source)}, folder, 1.0, 1, 2)
    return folder


def test_every_transfer_method_of_the_plan_is_checked(tmp_path):
    assert checker.check(write_methods_report(tmp_path / "complete")) == []
    folder = write_methods_report(tmp_path / "missing", skip=("char+classifier", "joint", 400))
    assert checker.check(folder) == [
        "run best / char+classifier (joint) at n=400 seed 1: missing",
        "results.md: best / char+classifier (joint) at n=400 is '', not a number",
    ]


def test_a_report_from_before_transfer_methods_still_checks(tmp_path):
    folder = write_quick_report(tmp_path)
    report = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    del report["plan"]["transfer_methods"]
    for run in report["runs"]:
        del run["transfer_method"]
    (folder / "results.json").write_text(json.dumps(report), encoding="utf-8")
    assert checker.check(folder) == []


def test_the_checker_runs_a_method_only_where_reproduce_does():
    plan = {"recipes": ["paper", "best"], "combinations": ["char", "all"], "sizes": [250], "seeds": [1],
            "transfer_methods": ["shared-space+shapes"]}  # fmt: skip
    assert checker.expected_runs(plan) == [
        ("paper", "scratch", "copy", "250", 1),
        ("best", "scratch", "copy", "250", 1),
        ("best", "all", "shared-space+shapes", "250", 1),
    ]
    # A plain copy of word: the paper's recipe (no vectors) only; under best, GloVe and chiVe differ in width.
    copied = {**plan, "transfer_methods": ["copy"]}
    assert checker.expected_runs(copied) == [
        ("paper", "scratch", "copy", "250", 1), ("paper", "char", "copy", "250", 1), ("paper", "all", "copy", "250", 1),
        ("best", "scratch", "copy", "250", 1), ("best", "char", "copy", "250", 1),
    ]  # fmt: skip
