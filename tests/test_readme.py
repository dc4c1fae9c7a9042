"""README.md's code runs as written: every Python block on tiny models, every `xlner` command line parses."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_xlner.cli import build_parser

from xlner_test_models import SHARED_DATA, random_model_dir

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [code for kind, code in BLOCK.findall(README.read_text(encoding="utf-8")) if kind == language]


def xlner_lines() -> list[str]:
    """The `xlner ...` command lines of the bash blocks (continuation lines joined, comments dropped)."""
    lines = []
    for code in blocks("bash"):
        for line in code.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("xlner "):
                lines.append(line)
    return lines


def test_the_readme_has_code_to_check():
    assert len(blocks("python")) >= 2 and len(xlner_lines()) >= 2


@pytest.mark.parametrize("line", xlner_lines())
def test_every_xlner_command_line_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.run)


@pytest.mark.parametrize("number", range(len(blocks("python"))))
def test_every_python_block_runs(number, tmp_path, shared_data):
    """Run in a folder laid out as the README assumes: runs/ja, runs/en and ../shared/data beside it."""
    work = tmp_path / "main"
    (work / "runs").mkdir(parents=True)
    for language in ("ja", "en"):
        shutil.copytree(random_model_dir(language), work / "runs" / language)
    (tmp_path / "shared").symlink_to(SHARED_DATA.parent)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", blocks("python")[number]], cwd=work, env=environment, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip(), "every block prints what it shows"
