"""The `xlner` command line: train, evaluate, transfer, reproduce, predict, push."""

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from ..training.options import TrainingOptions

if TYPE_CHECKING:
    from ..training.reproduce import Plan


def _key_values(pairs: list[str]) -> dict[str, Any]:
    """`--set word_dropout=0.1 context_num_layers=2` → {"word_dropout": 0.1, "context_num_layers": 2}."""
    values = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by `train` and `transfer`."""
    defaults = TrainingOptions()
    parser.add_argument("--lang", choices=["en", "ja"], required=True, help="language of the training data")
    parser.add_argument("--train", required=True, help="CoNLL (.txt/.conll) or span JSON(L) file, or hub:ID[@CONFIG]:SPLIT")
    parser.add_argument("--validation", required=True, help="validation data, same formats")
    parser.add_argument("--test", help="test data, evaluated with the best checkpoint")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--lr-scheduler", default=defaults.lr_scheduler, help="a transformers scheduler name")
    parser.add_argument("--max-train-samples", type=int, help="train on a seeded random subset of this size")
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps, help="stop after this many steps")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--patience", type=int, help="early stopping: epochs without validation F1 gain")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch threads (0: torch's default)")
    parser.add_argument("--min-word-frequency", type=int, default=defaults.min_word_frequency)
    parser.add_argument("--max-words", type=int, help="largest word vocabulary")
    parser.add_argument("--min-bigram-frequency", type=int, default=defaults.min_bigram_frequency)
    parser.add_argument("--max-bigrams", type=int, help="largest bigram vocabulary")
    parser.add_argument("--char-input", choices=["romaji", "surface"], default="romaji", help="Japanese bigram input")
    parser.add_argument("--word-input", choices=["surface", "romaji"], default="surface", help="Japanese word input")
    parser.add_argument("--romaji-source", choices=["surface", "reading"], default="surface", help="what is romanised")
    parser.add_argument(
        "--resume-from-checkpoint",
        help="a checkpoint folder under OUTPUT_DIR/checkpoints: its vocabularies, weights, optimizer and RNG state are used",
    )
    parser.add_argument(
        "--device", choices=["cpu", "auto"], default="cpu",
        help="cpu (default, reproducible), or auto: the GPU/accelerator if there is one (with torchrun: one per process)",
    )  # fmt: skip
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="XLNerConfig hyperparameters")


def training_options(args: argparse.Namespace) -> TrainingOptions:
    tokenizer_options = {"char_input": args.char_input, "word_input": args.word_input, "romaji_source": args.romaji_source}
    return TrainingOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_scheduler=args.lr_scheduler,
        max_train_samples=args.max_train_samples,
        max_steps=args.max_steps,
        seed=args.seed,
        patience=args.patience,
        threads=args.threads or None,
        min_word_frequency=args.min_word_frequency,
        max_words=args.max_words,
        min_bigram_frequency=args.min_bigram_frequency,
        max_bigrams=args.max_bigrams,
        model_config=_key_values(args.set),
        tokenizer_options=tokenizer_options if args.lang == "ja" else {},
        resume_from_checkpoint=args.resume_from_checkpoint,
        device=args.device,
    )


def train_command(args: argparse.Namespace) -> None:
    from ..training.trainer import train

    results = train(args.lang, args.train, args.validation, args.output_dir, training_options(args), args.test)
    _report(results, args.output_dir)


def transfer_command(args: argparse.Namespace) -> None:
    from ..training.trainer import TransferOptions, transfer

    options = TransferOptions(
        modules=args.modules,
        label_map=args.label_map,
        shared_bigrams=args.shared_bigrams,
        freeze_transferred_epochs=args.freeze_transferred_epochs,
        transferred_lr_scale=args.transferred_lr_scale,
    )
    results = transfer(
        args.source, args.lang, args.train, args.validation, args.output_dir, training_options(args), options, args.test
    )
    _report(results, args.output_dir)


def _modules(value: str) -> tuple[str, ...]:
    from ..transfer_xlner import resolve_modules

    try:
        return resolve_modules(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def evaluate_command(args: argparse.Namespace) -> None:
    import torch

    from tokenization.tokenization_xlner import XLNerTokenizer

    from ..modeling_xlner import XLNerForTokenClassification
    from ..training.trainer import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = XLNerForTokenClassification.from_pretrained(args.model)
    tokenizer = XLNerTokenizer.from_pretrained(args.model)
    scores = evaluate_model(model, tokenizer, args.data, batch_size=args.batch_size)
    print(json.dumps({key: scores[key] for key in ("precision", "recall", "f1", "n_gold", "n_pred")}))


def _report(results: dict[str, Any], output_dir: str) -> None:
    if not results:  # a distributed run's other processes: the first one reports
        return
    summary = {split: results[split]["f1"] for split in ("validation", "test") if split in results}
    seconds = results.get("seconds_per_epoch")  # None when a resumed run had no epoch left to train
    timing = f"{seconds:.1f} s/epoch" if seconds is not None else "no epoch trained"
    print(f"saved to {output_dir}; F1 {json.dumps(summary)}; {timing}", file=sys.stderr)
    print(json.dumps({"output_dir": output_dir, **{f"{k}_f1": v for k, v in summary.items()}}))


def reproduce_plan(args: argparse.Namespace) -> "Plan":
    """The full plan (or `--quick`'s), narrowed and adjusted by the command's options."""
    from dataclasses import replace

    from ..training.reproduce import FULL_PLAN, QUICK_PLAN

    changes = {
        "sizes": tuple(args.sizes) if args.sizes else None,
        "seeds": tuple(args.seeds) if args.seeds else None,
        "combinations": tuple(args.combinations) if args.combinations else None,
        "full_set_combinations": () if args.no_full_set else None,
        "ablation_size": (args.ablation_size or None) if args.ablation_size is not None else None,
        "epochs": args.epochs,
        "patience": args.patience,
        "shared_bigrams": False if args.no_shared_bigrams else None,
        "freeze_transferred_epochs": args.freeze_transferred_epochs,
        "transferred_lr_scale": args.transferred_lr_scale,
        "model_config": _key_values(args.set) or None,
    }
    plan = replace(QUICK_PLAN if args.quick else FULL_PLAN, **{k: v for k, v in changes.items() if v is not None})
    return replace(plan, ablation_size=None) if args.no_ablation else plan


def reproduce_command(args: argparse.Namespace) -> None:
    from ..training.reproduce import reproduce

    report = reproduce(
        args.output_dir, data_dir=args.data_dir, source=args.source, jobs=args.jobs, threads=args.threads,
        plan=reproduce_plan(args), report_only=args.report_only, only=args.runs,
    )  # fmt: skip
    print(f"reproduction took {report['wall_seconds'] / 60:.1f} min; see {args.output_dir}/results.md", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlner", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train a tagger from scratch")
    add_training_arguments(train_parser)
    train_parser.set_defaults(run=train_command)

    transfer_parser = commands.add_parser("transfer", help="train a tagger that starts from modules of a saved one")
    transfer_parser.add_argument("--source", required=True, help="the saved model (folder or Hub id) to transfer from")
    transfer_parser.add_argument(
        "--modules", type=_modules, required=True, help="comma-separated: word, char, context, head, classifier (= context,head)"
    )
    transfer_parser.add_argument(
        "--label-map", help="JSON file: target entity type -> source entity type (default: same names, then 人名->PER, ...)"
    )
    transfer_parser.add_argument(
        "--shared-bigrams", action="store_true", help="add the source's bigrams to the target bigram vocabulary"
    )
    transfer_parser.add_argument(
        "--freeze-transferred-epochs", type=int, default=0, metavar="N", help="keep copied weights fixed for N epochs"
    )
    transfer_parser.add_argument(
        "--transferred-lr-scale", type=float, metavar="X", help="learning-rate factor for weights copied whole"
    )
    add_training_arguments(transfer_parser)
    transfer_parser.set_defaults(run=transfer_command)

    evaluate_parser = commands.add_parser("evaluate", help="span-level P/R/F1 of a saved model on a data file")
    evaluate_parser.add_argument("--model", required=True, help="a saved model directory")
    evaluate_parser.add_argument("--data", required=True, help="CoNLL or span JSON(L) file, or hub:ID[@CONFIG]:SPLIT")
    evaluate_parser.add_argument("--batch-size", type=int, default=128)
    evaluate_parser.add_argument("--threads", type=int, default=1)
    evaluate_parser.set_defaults(run=evaluate_command)

    from .predict import add_predict_parser

    add_predict_parser(commands)
    reproduce_parser = commands.add_parser("reproduce", help="the paper's experiments on the public data, end to end")
    reproduce_parser.add_argument("--data-dir", help="folder with conll2003/ and ner-wikipedia-ja/ (default: download)")
    reproduce_parser.add_argument("--output-dir", required=True)
    reproduce_parser.add_argument("--quick", action="store_true", help="a small version of every step (< 10 min, 2 cores)")
    reproduce_parser.add_argument("--source", help="reuse this English model instead of pretraining one")
    reproduce_parser.add_argument("--jobs", type=int, default=1, help="Japanese runs in parallel (one process each)")
    reproduce_parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    reproduce_parser.add_argument("--sizes", type=int, nargs="+", help="Japanese training sizes (default 250 500 1000 2000)")
    reproduce_parser.add_argument("--seeds", type=int, nargs="+", help="seeds of every setting (default 1 2 3)")
    reproduce_parser.add_argument("--combinations", nargs="+", help="module combinations (default: all seven)")
    reproduce_parser.add_argument("--no-full-set", action="store_true", help="skip the runs on the full training set")
    reproduce_parser.add_argument("--ablation-size", type=int, help="training size of the romanisation ablation")
    reproduce_parser.add_argument("--no-ablation", action="store_true", help="skip the romanisation ablation")
    reproduce_parser.add_argument("--epochs", type=int, help="most epochs of a Japanese run (early stopping ends most sooner)")
    reproduce_parser.add_argument("--patience", type=int, help="early stopping of Japanese runs: epochs without validation gain")
    reproduce_parser.add_argument(
        "--no-shared-bigrams", action="store_true", help="transfer: target bigram vocabulary from Japanese text alone"
    )
    reproduce_parser.add_argument(
        "--freeze-transferred-epochs", type=int, metavar="N", help="transfer: keep copied weights fixed for N epochs"
    )
    reproduce_parser.add_argument(
        "--transferred-lr-scale", type=float, metavar="X", help="transfer: learning-rate factor for weights copied whole"
    )
    reproduce_parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="XLNerConfig hyperparameters of every run"
    )
    reproduce_parser.add_argument(
        "--runs", nargs="+", metavar="NAME", help="train just these runs (e.g. scratch__n2000__seed1), in this order"
    )
    reproduce_parser.add_argument(
        "--report-only", action="store_true", help="train nothing: report on every finished run in OUTPUT_DIR/runs"
    )
    reproduce_parser.set_defaults(run=reproduce_command)

    from hub_cards.push import add_push_parser

    add_push_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # 2 shared cores: do not spin-wait
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except (ValueError, OSError) as error:  # bad data (DataFormatError), bad files or options: no traceback
        if args.verbose:
            raise
        sys.exit(f"xlner {args.command}: error: {error}")


