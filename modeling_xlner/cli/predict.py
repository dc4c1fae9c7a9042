"""`xlner predict`: entities of raw texts as JSON lines, streamed.

    xlner predict --model DIR "大谷翔平はエンゼルスに入団した。" "Another text"
    cat texts.txt | xlner predict --model DIR                # one text per line
    xlner predict --model DIR --input texts.jsonl > out.jsonl  # objects with "text"

Each input gives one output line, in input order:

    {"text": ..., "entities": [{"start": 0, "end": 4, "type": "人名", "text": "大谷翔平", "score": 0.98}]}

`start`/`end` are character offsets into `text` (end exclusive) and `entities[i]["text"]` is
`text[start:end]`. Inputs are read, tagged and written `--chunk-size` texts at a time (sorted by
length into batches inside each chunk), so memory stays flat however long the input is.

    xlner predict --model DIR --input texts.jsonl --workers 4 > out.jsonl   # 4 processes

With `--workers N` (N > 1), N worker processes tag chunks side by side, each loading the model once
and running `--threads` torch threads (default 1; N x threads should not exceed the cores). This
process reads the input, keeps at most 2 N chunks in flight and writes them in input order: the
output is byte for byte that of `--workers 1`, which tags in this process.
"""

import argparse
import io
import itertools
import json
import os
import sys
from collections import deque
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
    parser.add_argument("--threads", type=int, default=1, help="torch threads, per process with --workers (0: torch's default)")
    parser.add_argument(
        "--workers", type=_positive_int, default=1,
        help="processes tagging chunks side by side, each loading the model once (1: tag in this process; same output)",
    )  # fmt: skip
    parser.add_argument(
        "--num-workers", type=int, choices=[0, 1], default=1,
        help="1: tokenize the next batch in a background thread while the model runs (same output; a thread, not --workers)",
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


def json_line(record: dict[str, Any]) -> str:
    """One output line (both paths write through this, so that --workers N gives the same bytes as 1)."""
    return json.dumps(record, ensure_ascii=False) + "\n"


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


# ------------------------------------------------------------------ --workers N

_worker_options: dict[str, Any] = {}  # in a worker process: load_pipeline's arguments
_worker_pipeline = None  # in a worker process: its pipeline, loaded by its first chunk


def _start_worker(threads: int, options: dict[str, Any]) -> None:
    """Set a worker process up: its torch threads, no "Loading weights" bar (only this command's bar)."""
    import torch
    from transformers.utils import logging

    if threads:
        torch.set_num_threads(threads)
    logging.disable_progress_bar()
    _worker_options.update(options)


def _tag_chunk(texts: list[str]) -> str:
    """The JSON lines of one chunk, in a worker process (loading fails here, so its error reaches the caller)."""
    global _worker_pipeline
    if _worker_pipeline is None:
        _worker_pipeline = load_pipeline(**_worker_options)
    return "".join(json_line(record) for record in predict_records(_worker_pipeline, texts))


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def worker_lines(texts: Iterable[str], workers: int, threads: int, **options: Any) -> Iterator[tuple[str, int]]:
    """(JSON lines, number of texts) of each chunk, tagged by `workers` processes, in input order.

    At most 2 chunks per worker are in flight (one running, one waiting), so memory stays flat. After
    a bad input line, the chunks before it are still given, as `--workers 1` writes them, then the error.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # The pipeline's own chunks (it takes at least a batch), so every batch, hence every score, is as in one process.
    chunk_size = max(options.get("chunk_size", DEFAULT_CHUNK_SIZE), options.get("batch_size", DEFAULT_BATCH_SIZE))
    # spawn, not fork: a forked copy of a process whose torch thread pools have started can hang.
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(threads, options)
    )
    in_flight: deque = deque()
    input_error = None
    try:
        try:
            for chunk in _chunks(texts, chunk_size):
                if len(in_flight) == 2 * workers:
                    future, count = in_flight.popleft()
                    yield future.result(), count
                in_flight.append((pool.submit(_tag_chunk, chunk), len(chunk)))
        except PredictInputError as error:
            input_error = error
        while in_flight:
            future, count = in_flight.popleft()
            yield future.result(), count
        if input_error is not None:
            raise input_error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_process_lines(pipe, texts: Iterable[str]) -> Iterator[tuple[str, int]]:
    for record in predict_records(pipe, texts):
        yield json_line(record), 1


# ------------------------------------------------------------------ the command


def predict_command(args: argparse.Namespace) -> None:
    """Run `xlner predict` (see the module docstring)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # inherited by --workers processes
    import torch

    if args.texts and args.input:
        raise SystemExit("xlner predict: give texts as arguments or --input FILE, not both")
    if args.workers < 1:  # argparse refuses it; this guards a Namespace built by hand
        raise SystemExit(f"xlner predict: --workers must be at least 1, got {args.workers}")
    options = {
        "model": args.model, "batch_size": args.batch_size, "chunk_size": args.chunk_size,
        "num_workers": args.num_workers, "max_chunk_chars": args.max_chunk_chars,
    }  # fmt: skip
    pipe = None
    if args.workers == 1:
        if args.threads:
            torch.set_num_threads(args.threads)
        pipe = load_pipeline(**options)

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
    if pipe is not None:
        blocks = _in_process_lines(pipe, texts)
    else:
        blocks = worker_lines(texts, args.workers, args.threads, **options)
    try:
        unflushed = 0
        for lines, count in blocks:
            output.write(lines)
            unflushed += count
            if progress is not None:
                progress.update(count)
            if unflushed >= 256:
                output.flush()
                unflushed = 0
    except PredictInputError as error:
        output.flush()
        raise SystemExit(f"xlner predict: {error}") from None
    finally:
        blocks.close()  # --workers: cancels the waiting chunks and ends the processes, whatever went wrong
        if progress is not None:
            progress.close()
        if input_handle is not None:
            input_handle.close()
        output.flush()
        if args.output:
            output.close()
        elif output is not sys.stdout:
            output.detach()


__all__ = ["add_predict_parser", "predict_command", "predict_records", "worker_lines", "json_line", "load_pipeline", "PredictInputError"]
