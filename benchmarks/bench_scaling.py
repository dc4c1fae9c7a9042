"""How training and prediction cost grow with the data: against the number of sentences and their length.

Command (run from the repository root; the figures in the report come from exactly this):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_scaling.py --threads 1 --json runs/bench_scaling.json

Two sweeps over the CoNLL-2003 training sentences, each with the default model and a fresh tokenizer
built from the sentences it trains on:

  sizes    the first (seeded shuffle) 1k, 2k, 4k, 8k sentences (`--sizes`): seconds of one training
           epoch (`Trainer`, as `xlner train` runs it: batch 32, grouped by length; the evaluation
           after the epoch is not counted) and of prediction (tokenizer + forward + argmax, the
           sentences given as pre-split words, batches of 128);
  lengths  `--per-bucket` (1000) sentences from each length bucket (`--buckets`, in words): the same
           two timings. With the number of sentences fixed, cost should follow the number of words.

For each sweep, a least-squares line through (x, seconds) with its slope and R²: x is sentences for
the size sweep and words for the length sweep (R² close to 1: linear growth). Prediction is timed as
the fastest of `--repeats` runs; training once per point (one epoch is long enough to be stable).
The torch thread count (`--threads`, default 1) is set before torch is imported, and printed with the
machine's core count and load average: on a shared machine the absolute seconds move with the load,
the linearity much less.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003" / "train.txt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_TRAIN), help="a CoNLL training file")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000], help="numbers of sentences")
    parser.add_argument(
        "--buckets", nargs="+", default=["1-10", "11-20", "21-30", "31-45"], help="sentence lengths in words, LOW-HIGH"
    )
    parser.add_argument("--per-bucket", type=int, default=1000, help="sentences per length bucket")
    parser.add_argument("--threads", type=int, default=1, help="torch (and BLAS) threads")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (xlner's default)")
    parser.add_argument("--repeats", type=int, default=3, help="timed prediction runs per point (the fastest counts)")
    parser.add_argument("--skip-training", action="store_true", help="time prediction only")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    from thread_env import pin_threads  # before numpy / torch (/ thinc) are imported

    pin_threads(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least-squares line y = slope * x + intercept, and its R²."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(((y - (slope * x + intercept)) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return {"slope": float(slope), "intercept": float(intercept), "r2": 1.0 - residual / total if total else 1.0}


def time_prediction(model, tokenizer, sentences: list[list[str]], repeats: int) -> float:
    """Fastest of `repeats` runs of the pipeline (the one inference path) over pre-split sentences."""
    from modeling_xlner.training.evaluation import tagging_pipeline

    pipe = tagging_pipeline(model, tokenizer)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        pipe(sentences, is_split_into_words=True, batch_size=128, chunk_size=len(sentences))
        best = min(best, time.perf_counter() - start)
    return best


def measure(examples: list[dict], validation: list[dict], args: argparse.Namespace) -> dict[str, float]:
    """Seconds of one training epoch and of prediction on `examples`."""
    import datasets

    from modeling_xlner.configuration_xlner import XLNerConfig
    from modeling_xlner.training.data import CONLL_FEATURES
    from modeling_xlner.modeling_xlner import XLNerForTokenClassification
    from modeling_xlner.training.data import label_list
    from modeling_xlner.training.options import TrainingOptions
    from modeling_xlner.training.trainer import TrainingData, build_tokenizer, run_training

    train = datasets.Dataset.from_list(examples, features=CONLL_FEATURES)
    options = TrainingOptions(epochs=1, batch_size=args.batch_size, threads=args.threads, seed=args.seed)
    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer(train, "en", options)
    labels = label_list(datasets.Dataset.from_list(examples + validation, features=CONLL_FEATURES))
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=dict(enumerate(labels)),
        language="en",
    )
    model = XLNerForTokenClassification(config)
    result = {"sentences": len(examples), "words": sum(len(e["tokens"]) for e in examples)}
    if not args.skip_training:
        validation_set = datasets.Dataset.from_list(validation, features=CONLL_FEATURES)
        # The model is trained in place (its best epoch is the only one); Trainer's log lines are muted.
        with tempfile.TemporaryDirectory() as output_dir, contextlib.redirect_stdout(io.StringIO()):
            data = TrainingData(train, validation_set, "train (in memory)", "validation (in memory)")
            results = run_training(model, tokenizer, data, Path(output_dir), options)
        result["train_seconds_per_epoch"] = results.seconds_per_epoch
    result["predict_seconds"] = time_prediction(model.eval(), tokenizer, [e["tokens"] for e in examples], args.repeats)
    return result


def main(args: argparse.Namespace) -> dict:
    import logging

    import transformers

    from modeling_xlner.training.data import read_conll

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    sentences = read_conll(args.data)
    random.Random(args.seed).shuffle(sentences)
    validation = sentences[-50:]  # a token evaluation set: run_training needs one; its time is not counted
    pool = sentences[:-50]
    environment = {
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    print(f"threads {environment['torch_threads']} | cores {environment['cpu_count']} | load average {environment['load_average_before']}")

    by_size = []
    for size in args.sizes:
        point = measure(pool[:size], validation, args)
        by_size.append(point)
        print(f"size {size:6d} sentences {point['words']:7d} words | train {point.get('train_seconds_per_epoch', float('nan')):7.2f} s/epoch | predict {point['predict_seconds']:6.2f} s", flush=True)

    by_length = []
    for bucket in args.buckets:
        low, high = (int(n) for n in bucket.split("-"))
        chosen = [s for s in pool if low <= len(s["tokens"]) <= high][: args.per_bucket]
        if len(chosen) < args.per_bucket:
            print(f"bucket {bucket}: only {len(chosen)} sentences", file=sys.stderr)
        point = {"bucket": bucket, **measure(chosen, validation, args)}
        point["mean_length"] = point["words"] / point["sentences"]
        by_length.append(point)
        print(f"length {bucket:>6} ({point['mean_length']:5.1f} words avg, {point['sentences']} sentences) | train {point.get('train_seconds_per_epoch', float('nan')):7.2f} s/epoch | predict {point['predict_seconds']:6.2f} s", flush=True)

    fits = {}
    for name, points, x_key in (("sizes", by_size, "sentences"), ("lengths", by_length, "words")):
        for y_key in ("train_seconds_per_epoch", "predict_seconds"):
            if all(y_key in p for p in points) and len(points) > 1:
                fits[f"{name}.{y_key}"] = {"x": x_key, **linear_fit([p[x_key] for p in points], [p[y_key] for p in points])}
    print("\nlinear fits (seconds = slope * x + intercept):")
    for key, fit in fits.items():
        unit = "per 1k " + fit["x"]
        print(f"  {key:40s} slope {1000 * fit['slope']:8.3f} s {unit:15s} intercept {fit['intercept']:7.2f} s  R² {fit['r2']:.4f}")
    environment["load_average_after"] = os.getloadavg()
    print(f"load average after: {environment['load_average_after']}")
    return {"environment": environment, "by_size": by_size, "by_length": by_length, "fits": fits}


if __name__ == "__main__":
    figures = main(ARGS)
    if ARGS.json:
        Path(ARGS.json).parent.mkdir(parents=True, exist_ok=True)
        Path(ARGS.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
