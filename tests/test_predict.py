"""`xlner predict` (modeling_xlner/predict.py): arguments, stdin, JSON-lines files, streaming."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys

import pytest

from modeling_xlner.cli.predict import add_predict_parser, load_pipeline, predict_command, predict_records

from xlner_test_models import random_model_dir

TEXTS = [
    "大谷翔平はロサンゼルス・エンゼルスに所属する野球選手である。",
    "",
    "東京",
    "ｿﾆｰｸﾞﾙｰﾌﾟとＩＢＭが提携、👍🏽",
    "株式会社ナムコに入社し、ファミスタ'88等の作曲を手掛ける。" * 3,
]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xlner")
    add_predict_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["predict", *argv])


@pytest.fixture(scope="module")
def model_dir() -> str:
    return random_model_dir("ja")


@pytest.fixture(scope="module")
def expected(model_dir):
    """What the pipeline itself says about TEXTS, as predict's records."""
    pipe = load_pipeline(model_dir)
    return [
        [(e["start"], e["end"], e["entity_group"], e["word"]) for e in entities] for entities in pipe(TEXTS)
    ]


def read_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def check(records: list[dict], texts: list[str], expected) -> None:
    assert [r["text"] for r in records] == texts
    for record, want in zip(records, expected):
        entities = record["entities"]
        assert [(e["start"], e["end"], e["type"], e["text"]) for e in entities] == want
        for e in entities:
            assert set(e) == {"start", "end", "type", "text", "score"}
            assert record["text"][e["start"] : e["end"]] == e["text"]
            assert 0 <= e["score"] <= 1


def test_texts_as_arguments(model_dir, expected, tmp_path):
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--output", str(output), *TEXTS))
    check(read_records(output.read_text(encoding="utf-8")), TEXTS, expected)


def test_stdout_is_utf8_json_lines(model_dir, expected, capsysbinary):
    predict_command(parse("--model", model_dir, *TEXTS))
    out = capsysbinary.readouterr().out.decode("utf-8")
    assert "大谷" in out  # not \\u-escaped
    check(read_records(out), TEXTS, expected)


def test_stdin_one_text_per_line(model_dir, expected, tmp_path, monkeypatch):
    data = "\r\n".join(TEXTS) + "\n"  # CRLF line ends; the empty line is an empty text
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode("utf-8"))))
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--output", str(output)))
    check(read_records(output.read_text(encoding="utf-8")), TEXTS, expected)


def test_jsonl_file_with_progress_bar(model_dir, expected, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": text, "id": i}, ensure_ascii=False) for i, text in enumerate(TEXTS)]
    source.write_text("\n".join(lines[:2] + ["", "   "] + lines[2:]) + "\n", encoding="utf-8")  # blank lines skipped
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--input", str(source), "--output", str(output), "--batch-size", "2", "--chunk-size", "2"))
    check(read_records(output.read_text(encoding="utf-8")), TEXTS, expected)
    assert "predict" in capsys.readouterr().err  # tqdm on stderr


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_jsonl_file_with_a_bom_and_crlf(model_dir, expected, tmp_path, bom):
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": text}, ensure_ascii=False) for text in TEXTS]
    source.write_bytes(bom + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--input", str(source), "--output", str(output), "--no-progress"))
    check(read_records(output.read_text(encoding="utf-8")), TEXTS, expected)


def test_stdin_with_a_bom(model_dir, expected, tmp_path, monkeypatch):
    data = b"\xef\xbb\xbf" + "\n".join(TEXTS).encode("utf-8")  # and no line end after the last text
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--output", str(output)))
    check(read_records(output.read_text(encoding="utf-8")), TEXTS, expected)


@pytest.mark.parametrize("empty", [b"", "\ufeff".encode("utf-8")])
def test_empty_input_gives_empty_output(model_dir, tmp_path, monkeypatch, empty):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(empty)))
    output = tmp_path / "out.jsonl"
    predict_command(parse("--model", model_dir, "--output", str(output)))
    assert output.read_text(encoding="utf-8") == ""
    source = tmp_path / "empty.jsonl"
    source.write_bytes(empty)
    predict_command(parse("--model", model_dir, "--input", str(source), "--output", str(output), "--no-progress"))
    assert output.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize(
    "line, message",
    [("{not json", "line 2: invalid JSON"), ('{"txt": "x"}', 'line 2: expected an object with a "text" string'),
     ('["x"]', "line 2: expected an object"), ('{"text": null}', "'text' = None")],
)  # fmt: skip
def test_bad_jsonl_lines_are_named(model_dir, tmp_path, line, message):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "東京"}) + "\n" + line + "\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit, match=message):
        predict_command(parse("--model", model_dir, "--input", str(source), "--output", str(output), "--no-progress"))


def test_usage_errors(model_dir, tmp_path):
    with pytest.raises(SystemExit, match="not both"):
        predict_command(parse("--model", model_dir, "--input", str(tmp_path / "x.jsonl"), "some text"))
    with pytest.raises(SystemExit, match="no such file"):
        predict_command(parse("--model", model_dir, "--input", str(tmp_path / "missing.jsonl")))
    with pytest.raises(SystemExit):
        parse("--model", model_dir, "--batch-size", "0")


def test_records_stream_lazily(model_dir):
    """An endless input still yields: nothing is read beyond the current chunk."""
    pipe = load_pipeline(model_dir, chunk_size=4, batch_size=2)
    read = []

    def endless():
        for i in itertools.count():
            read.append(i)
            yield TEXTS[i % len(TEXTS)]

    first = list(itertools.islice(predict_records(pipe, endless()), 6))
    assert [r["text"] for r in first] == [TEXTS[i % len(TEXTS)] for i in range(6)]
    assert len(read) <= 8


def test_output_order_is_input_order(model_dir):
    pipe = load_pipeline(model_dir, chunk_size=16, batch_size=3)
    texts = ["東京" * (i % 7 + 1) for i in range(40)]  # lengths interleaved, so batches are reordered
    assert [r["text"] for r in predict_records(pipe, texts)] == texts


def test_cli_subprocess_stdin(model_dir, expected, tmp_path):
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "modeling_xlner.cli", "predict", "--model", model_dir],
        input="\n".join(TEXTS).encode("utf-8"), capture_output=True, env=environment, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]
    check(read_records(result.stdout.decode("utf-8")), TEXTS, expected)
