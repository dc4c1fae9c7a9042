"""`xlner predict --workers N` (modeling_xlner/cli/predict.py): the bytes and order of one process, streaming, errors."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling_xlner.cli.predict import add_predict_parser, predict_command, worker_lines

from xlner_test_models import random_model_dir

BASE_TEXTS = [
    "大谷翔平はロサンゼルス・エンゼルスに所属する野球選手である。",
    "",
    "東京",
    "ｿﾆｰｸﾞﾙｰﾌﾟとＩＢＭが提携、👍🏽",
    "株式会社ナムコに入社し、ファミスタ'88等の作曲を手掛ける。" * 3,
]
# Numbered, so that any reordering shows; lengths vary, so that batches are sorted inside each chunk.
TEXTS = [f"{i}番: {BASE_TEXTS[i % len(BASE_TEXTS)] * (i % 3 + 1)}" for i in range(150)]
SMALL_CHUNKS = ("--chunk-size", "8", "--batch-size", "4")  # 19 chunks: both workers, more than 2 N in flight
ENVIRONMENT = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xlner")
    add_predict_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["predict", *argv])


@pytest.fixture(scope="module")
def model_dir(shared_data) -> str:
    return random_model_dir("ja")


def write_jsonl(path: Path, texts: list[str], bad_line: int | None = None) -> Path:
    lines = [json.dumps({"text": text}, ensure_ascii=False) for text in texts]
    if bad_line is not None:
        lines[bad_line - 1] = "{not json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def predict_bytes(model_dir: str, source: Path, output: Path, workers: int) -> bytes:
    predict_command(parse("--model", model_dir, "--input", str(source), "--output", str(output), "--no-progress",
                          "--workers", str(workers), *SMALL_CHUNKS))  # fmt: skip
    return output.read_bytes()


@pytest.fixture(scope="module")
def one_worker_bytes(model_dir, tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("one-worker")
    return predict_bytes(model_dir, write_jsonl(folder / "in.jsonl", TEXTS), folder / "out.jsonl", workers=1)


def test_a_bad_line_stops_both_paths_after_the_same_output(model_dir, tmp_path):
    """The chunks before the bad line's are written, then the error names the line, with 1 worker as with 2."""
    source = write_jsonl(tmp_path / "in.jsonl", TEXTS, bad_line=30)
    written = {}
    for workers in (1, 2):
        with pytest.raises(SystemExit, match="line 30: invalid JSON"):
            predict_bytes(model_dir, source, tmp_path / f"out-{workers}.jsonl", workers)
        written[workers] = (tmp_path / f"out-{workers}.jsonl").read_bytes()
    assert len(written[1].splitlines()) == 24  # three whole chunks of 8
    assert written[2] == written[1]


def test_workers_read_a_bounded_number_of_chunks_ahead(model_dir):
    """An endless input still yields chunks, and no more than 2 N chunks (and the one being read) are taken."""
    read = []

    def endless():
        for i in itertools.count():
            read.append(i)
            yield TEXTS[i % len(TEXTS)]

    blocks = worker_lines(endless(), workers=2, threads=1, model=model_dir, chunk_size=8, batch_size=4)
    first = list(itertools.islice(blocks, 3))
    blocks.close()
    assert [count for _, count in first] == [8, 8, 8]
    assert [json.loads(line)["text"] for lines, _ in first for line in lines.splitlines()] == TEXTS[:24]
    assert len(read) <= 8 * (2 * 2 + 3)


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_are_refused(workers, capsys):
    with pytest.raises(SystemExit):
        parse("--model", "unused", "--workers", workers)
    assert f"argument --workers: expected a positive integer, got {workers}" in capsys.readouterr().err
    args = parse("--model", "unused", "東京")  # refused before any model is loaded
    args.workers = 0
    with pytest.raises(SystemExit, match="--workers must be at least 1, got 0"):
        predict_command(args)


def test_cli_with_two_workers_writes_the_bytes_of_one(model_dir, one_worker_bytes, tmp_path):
    """`python -m modeling_xlner.cli` (spawned workers import the package, not the command again)."""
    command = [sys.executable, "-m", "modeling_xlner.cli", "predict", "--model", model_dir, "--workers", "2",
               "--input", str(write_jsonl(tmp_path / "in.jsonl", TEXTS)), "--no-progress", *SMALL_CHUNKS]  # fmt: skip
    result = subprocess.run(command, capture_output=True, env=ENVIRONMENT, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]
    lines = result.stdout.decode("utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == TEXTS
    assert sum(len(json.loads(line)["entities"]) for line in lines) > 0
    assert result.stdout == one_worker_bytes


def test_a_model_that_does_not_load_raises_instead_of_hanging(tmp_path):
    blocks = worker_lines(["東京"], workers=1, threads=1, model=str(tmp_path / "no-model"))
    with pytest.raises(OSError, match="no-model"):
        next(blocks)
