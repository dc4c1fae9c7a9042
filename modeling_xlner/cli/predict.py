"""`xlner predict`: entities of raw texts as JSON lines, streamed.

    xlner predict --model DIR "大谷翔平はエンゼルスに入団した。" "Another text"
    cat texts.txt | xlner predict --model DIR                # one text per line
    xlner predict --model DIR --input texts.jsonl > out.jsonl  # objects with "text"

Each input gives one output line, in input order:

    {"text": ..., "entities": [{"start": 0, "end": 4, "type": "人名", "text": "大谷翔平", "score": 0.98}]}

`start`/`end` are character offsets into `text` (end exclusive) and `entities[i]["text"]` is
`text[start:end]`. Inputs are read, tagged and written `--chunk-size` texts at a time (sorted by
length into batches inside each chunk), so memory stays flat however long the input is.
"""

import argparse
import io
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from ..pipeline_xlner import DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CHUNK_CHARS


class PredictInputError(ValueError):
    """A line of the input file cannot be read as a text; the message names the file and line."""


def add_predict_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `predict` sub-command to an `xlner` sub-parser set."""
    from . import HelpFormatter

    parser = subparsers.add_parser(
        "predict",
        help="tag raw texts with a saved model, as JSON lines",
        description=__doc__,
        formatter_class=HelpFormatter,  # the docstring as written, and every default
    )
    parser.add_argument("--model", required=True, help="a saved model directory (or Hub id)")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to tag (none: one text per line on stdin)")
    parser.add_argument(
        "--input", metavar="FILE.jsonl", help='JSON lines, one object with a "text" string per line (None: TEXTs, or stdin)'
    )
    parser.add_argument("--output", metavar="FILE", help="write here (None: stdout)")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help="texts per forward pass")
    parser.add_argument(
        "--chunk-size", type=_positive_int, default=DEFAULT_CHUNK_SIZE, help="texts read and sorted by length at a time"
    )
    parser.add_argument(
        "--max-chunk-chars", type=_positive_int, default=DEFAULT_MAX_CHUNK_CHARS,
        help="texts longer than this are cut at sentence boundaries",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--num-workers", type=int, choices=[0, 1], default=1,
        help="1: tokenize the next batch in a background thread while the model runs (same output)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr for --input")
    parser.set_defaults(run=predict_command)
    return parser


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def load_pipeline(model: str, batch_size: int = DEFAULT_BATCH_SIZE, chunk_size: int = DEFAULT_CHUNK_SIZE, **kwargs):
    """The package's own pipeline class over a saved model (no remote code is executed)."""
    from tokenization.tokenization_xlner import XLNerTokenizer

    from ..modeling_xlner import XLNerForTokenClassification
    from ..pipeline_xlner import XLNerTokenClassificationPipeline

    loaded_model = XLNerForTokenClassification.from_pretrained(model).eval()
    tokenizer = XLNerTokenizer.from_pretrained(model)
    return XLNerTokenClassificationPipeline(
        model=loaded_model,
        tokenizer=tokenizer,
        task="token-classification",
        device=-1,
        aggregation_strategy="simple",
        batch_size=batch_size,
        chunk_size=chunk_size,
        **kwargs,
    )


def read_jsonl_texts(handle: TextIO, name: str) -> Iterator[str]:
    """The "text" of each object of a JSON-lines stream; blank lines are skipped."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PredictInputError(f"{name}, line {number}: invalid JSON ({error.msg})") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            got = f"{type(record).__name__}" if not isinstance(record, dict) else f"'text' = {text!r}"
            raise PredictInputError(f'{name}, line {number}: expected an object with a "text" string, got {got}')
        yield text


def read_lines(handle: TextIO) -> Iterator[str]:
    """One text per line (line break removed; an empty line is an empty text)."""
    for line in handle:
        yield line[:-1] if line.endswith("\n") else line


def predict_records(pipe, texts: Iterable[str]) -> Iterator[dict[str, Any]]:
    """`{"text", "entities"}` for each text, lazily, in input order (the pipeline streams chunk by chunk)."""
    texts, to_tag = itertools.tee(texts)  # holds no more than the pipeline reads ahead: one chunk
    for text, entities in zip(texts, pipe(to_tag, aggregation_strategy="simple")):
        yield {
            "text": text,
            "entities": [
                {
                    "start": entity["start"],
                    "end": entity["end"],
                    "type": entity["entity_group"],
                    "text": entity["word"],
                    "score": round(float(entity["score"]), 4),
                }
                for entity in entities
            ],
        }


def _count_lines(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


def predict_command(args: argparse.Namespace) -> None:
    """Run `xlner predict` (see the module docstring)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if args.texts and args.input:
        raise SystemExit("xlner predict: give texts as arguments or --input FILE, not both")
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {"max_chunk_chars": args.max_chunk_chars}
    pipe = load_pipeline(
        args.model, batch_size=args.batch_size, chunk_size=args.chunk_size, num_workers=args.num_workers, **extra
    )

    input_handle = None
    progress = None
    if args.texts:
        texts: Iterable[str] = args.texts
    elif args.input:
        if not os.path.isfile(args.input):
            raise SystemExit(f"xlner predict: {args.input}: no such file")
        input_handle = open(args.input, encoding="utf-8-sig", errors="replace")  # a byte-order mark is not text
        texts = read_jsonl_texts(input_handle, args.input)
        if not args.no_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=_count_lines(args.input), unit="line", file=sys.stderr, desc="predict", dynamic_ncols=True)
    else:
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="replace") if hasattr(sys.stdin, "buffer") else sys.stdin
        texts = read_lines(stdin)

    if args.output:
        output = open(args.output, "w", encoding="utf-8")
    elif hasattr(sys.stdout, "buffer"):
        output = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="replace", line_buffering=False)
    else:
        output = sys.stdout
    try:
        written = 0
        for record in predict_records(pipe, texts):
            output.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
            if progress is not None:
                progress.update(1)
            if written % 256 == 0:
                output.flush()
    except PredictInputError as error:
        output.flush()
        raise SystemExit(f"xlner predict: {error}") from None
    finally:
        if progress is not None:
            progress.close()
        if input_handle is not None:
            input_handle.close()
        output.flush()
        if args.output:
            output.close()
        elif output is not sys.stdout:
            output.detach()


__all__ = ["add_predict_parser", "predict_command", "predict_records", "load_pipeline", "PredictInputError"]
