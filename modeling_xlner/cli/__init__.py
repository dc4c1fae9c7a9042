"""The `xlner` command line: train, evaluate, transfer, word-space, reproduce, predict, push.

Every flag of train, transfer, evaluate and reproduce is a dataclass field (`TrainingOptions`,
`TransferOptions`, ... and the `*Arguments` classes below): its type, default and
`metadata["help"]` make the flag, by transformers' `HfArgumentParser` rules (`--batch-size` and
`--batch_size` both work; a bool field takes `--flag`, `--flag true` or `--flag false`).
"""

import argparse
import copy
import dataclasses
import json
import logging
import os
import sys
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_origin, get_type_hints

from transformers import HfArgumentParser
from transformers.hf_argparser import string_to_bool

from ..training.options import JapaneseTokenizerOptions, TrainingOptions, TransferOptions

if TYPE_CHECKING:
    from ..training.reproduce import Plan
    from ..training.results import Results

T = TypeVar("T")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written, and every optional flag's default in its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required:  # "(default: None)" would read as if the flag could be left out
            return action.help
        return super()._get_help_string(action)


class CommandParser(HfArgumentParser):
    """The parser of each sub-command (also those added elsewhere: predict, push), so every `--help` shows defaults."""

    def __init__(self, dataclass_types: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(dataclass_types, **kwargs)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class DataArguments:
    """The data of `train` and `transfer`."""

    lang: Literal["en", "ja"] = field(metadata=_help("language of the training data"))
    train: str = field(metadata=_help("CoNLL (.txt/.conll) or span JSON(L) file, or hub:ID[@CONFIG]:SPLIT"))
    validation: str = field(metadata=_help("validation data, same formats"))
    output_dir: str = field(metadata=_help("where the model, checkpoints and results.json go"))
    test: str | None = field(default=None, metadata=_help("test data, evaluated with the best checkpoint"))


@dataclass
class TransferArguments:
    """What `transfer` needs besides `TransferOptions`."""

    source: str = field(metadata=_help("the saved model (folder or Hub id) to transfer from"))


@dataclass
class WordSpaceArguments:
    """`xlner word-space`: a map from the target's pretrained vectors into the source's (see training/word_space.py)."""

    output: str = field(metadata=_help("the map's file (a torch file), for `xlner transfer --word-space-map`"))
    source_vectors: str = field(default="glove-6b-50d", metadata=_help("the source model's vectors (its --vectors)"))
    target_vectors: str = field(default="chive", metadata=_help("the target model's vectors (its --vectors)"))
    transliterations: str = field(
        default="alkana", metadata=_help("English -> katakana pairs: alkana (xlner[transfer]) or a TSV file english<TAB>katakana")
    )
    held_out: float = field(default=0.1, metadata=_help("share of the dictionary's target words held out for precision@1"))
    ridge: float = field(default=1.0, metadata=_help("ridge penalty of the least-squares map"))
    seed: int = field(default=1, metadata=_help("seed of the held-out split"))


@dataclass
class TranslateTrainArguments:
    """`xlner translate-train`: English CoNLL data translated into Japanese word by word, as a span-JSON corpus
    to pretrain a Japanese model on (see training/translate_train.py)."""

    conll: str = field(metadata=_help("an English CoNLL file (IOB1/IOB2/BIOES/BILOU tags)"))
    output: str = field(metadata=_help("the Japanese span-JSON lines file to write"))
    word_space_map: str = field(metadata=_help("a map file of `xlner word-space` (its vectors and dictionary are used)"))
    max_sentences: int | None = field(default=None, metadata=_help("translate only the first N sentences"))


@dataclass
class EvaluateArguments:
    model: str = field(metadata=_help("a saved model directory"))
    data: str = field(metadata=_help("CoNLL or span JSON(L) file, or hub:ID[@CONFIG]:SPLIT"))
    batch_size: int = field(default=128, metadata=_help("sentences per batch"))
    threads: int = field(default=1, metadata=_help("torch threads (0: torch's default)"))


@dataclass
class ReproduceArguments:
    """`reproduce`'s own flags; the plan overrides come from `TrainingOptions` / `TransferOptions`."""

    output_dir: str = field(metadata=_help("where runs/, results.json, results.md and learning_curve.png go"))
    data_dir: str | None = field(
        default=None, metadata=_help("folder with conll2003/ and ner-wikipedia-ja/ (None: download the public data)")
    )
    quick: bool = field(
        default=False, metadata=_help("a small plan: recipe best, 250 and 500 sentences, one seed, char+classifier")
    )
    recipes: str | None = field(
        default=None,
        metadata={
            "help": "comma-separated recipes of every run, English source included (listed above; None: the plan's)",
            "metavar": "RECIPE[,RECIPE...]",
        },
    )
    source: str | None = field(
        default=None,
        metadata=_help(
            "reuse this English model for every recipe instead of pretraining one per recipe; its head must match "
            "the recipes' (a CRF source for CRF recipes, a softmax one for paper and no-crf)"
        ),
    )
    code_switch_source: str | None = field(
        default=None,
        metadata=_help(
            "reuse this code-switched English model (trained with --code-switch-rate) for the code-switched transfer "
            "methods of every recipe; with --source given, those methods need it"
        ),
    )
    jobs: int = field(default=1, metadata=_help("runs in parallel (one process each), English sources too"))
    threads: int = field(default=1, metadata=_help("torch threads per run"))
    sizes: list[int] | None = field(
        default=None, metadata=_help("Japanese training sizes (None: the plan's, 250 500 1000 2000)")
    )
    seeds: list[int] | None = field(default=None, metadata=_help("seeds of every setting (None: the plan's, 1 2 3)"))
    combinations: list[str] | None = field(default=None, metadata=_help("module combinations of the size grid (None: the plan's, char+classifier)"))
    transfer_methods: list[str] | None = field(
        default=None,
        metadata={
            "help": "transfer methods (listed above), each run with every combination it applies to (None: the plan's, copy)",
            "metavar": "METHOD",
        },
    )
    no_full_set: bool = field(default=False, metadata=_help("skip the runs on the full training set"))
    module_table_sizes: list[int] | None = field(
        default=None,
        metadata=_help(
            "sizes of the module-combination table: every combination, seed 1, with --module-table-method "
            "(None: the plan's, 250 500; 0: none)"
        ),
    )
    module_table_method: str | None = field(
        default=None,
        metadata={
            "help": "transfer method of the module table where it applies, else copy, self-trained as the method is "
            "(None: the plan's, translated-rows: `word` carried by translated rows)",
            "metavar": "METHOD",
        },
    )
    ablation_size: int | None = field(
        default=None, metadata=_help("training size of the romanisation ablation (None: the plan's; 0: no ablation)")
    )
    no_ablation: bool = field(default=False, metadata=_help("skip the romanisation ablation"))
    no_zero_shot: bool = field(
        default=False, metadata=_help("skip the zero-shot scores (each transfer method but joint, no Japanese labels)")
    )
    runs: list[str] | None = field(
        default=None,
        metadata={
            "help": "train just these runs, in this order (e.g. scratch__n2000__seed1; scratch__n500__seed1__no-crf: "
            "with recipe no-crf; a recipe but best, then a transfer method but copy, end the name: "
            "all__n500__seed1__paper__code-switch)",
            "metavar": "NAME",
        },
    )
    report_only: bool = field(
        default=False, metadata=_help("train nothing: report on every finished run in OUTPUT_DIR/runs")
    )


# TrainingOptions fields that are no flag: the CLI fills tokenizer_options from JapaneseTokenizerOptions.
NOT_FLAGS = frozenset({"tokenizer_options"})
# The TransferOptions fields that `reproduce` takes (modules and label map come from its plan).
REPRODUCE_TRANSFER_FIELDS = ("shared_bigrams", "freeze_transferred_epochs", "transferred_lr_scale", "source_anchor")
REPRODUCE_TRAINING_FIELDS = ("epochs", "patience", "model_config")


# ---------------------------------------------------------------------------------- flags from dataclass fields


def parse_key_values(pairs: Sequence[str]) -> dict[str, Any]:
    """`["word_dropout=0.1", "name=x"]` → {"word_dropout": 0.1, "name": "x"}: JSON values, else the string."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


class _KeyValues(argparse.Action):
    """`--set a=1 b=x` → {"a": 1, "b": "x"}; a repeated `--set` adds to the earlier pairs."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: Any = None
    ) -> None:
        try:
            pairs = parse_key_values(values)
        except ValueError as error:
            raise argparse.ArgumentError(self, str(error)) from None  # argparse's usage error, exit status 2
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest, None) or {}), **pairs})


def _long_options(name: str) -> list[str]:
    return [f"--{name}", *([f"--{name.replace('_', '-')}"] if "_" in name else [])]  # as HfArgumentParser


def _is_mapping(hint: Any) -> bool:
    origin = get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _add_field_argument(group: Any, spec: dataclasses.Field, extra: dict[str, Any]) -> None:
    """A field HfArgumentParser cannot type: a dict (KEY=VALUE pairs), or one with a converter in `extra`."""
    metadata = dict(spec.metadata)
    aliases = metadata.pop("aliases", [])
    kwargs: dict[str, Any] = {"dest": spec.name, **metadata}
    if spec.default is not dataclasses.MISSING:
        kwargs["default"] = spec.default
    elif spec.default_factory is not dataclasses.MISSING:
        kwargs["default"] = spec.default_factory()
    else:
        kwargs["required"] = True
    if _is_mapping(spec.type):
        kwargs.update(action=_KeyValues, nargs="*", metavar="KEY=VALUE")
    aliases = [aliases] if isinstance(aliases, str) else aliases
    group.add_argument(*aliases, *_long_options(spec.name), **{**kwargs, **extra})  # `--set` first: the usual name


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    dtype: type,
    *,
    title: str | None = None,
    description: str | None = None,
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, dict[str, Any]] | None = None,
) -> list[str]:
    """One flag per field of `dtype`, by HfArgumentParser's rules, in an argument group; returns their dests.

    `defaults` replaces field defaults (reproduce: None, the plan's value); `overrides` adds
    argparse keywords to fields whose type alone does not make the flag. Dict fields take KEY=VALUE pairs.
    """
    group = parser.add_argument_group(title or dtype.__name__, description)
    hints = get_type_hints(dtype)
    dests = []
    for declared in dataclasses.fields(dtype):
        if not declared.init or declared.name in exclude or (only is not None and declared.name not in only):
            continue
        spec = copy.copy(declared)  # HfArgumentParser rewrites `type`: leave the dataclass's own field alone
        spec.type = hints[spec.name]
        if defaults is not None and spec.name in defaults:
            spec.default, spec.default_factory = defaults[spec.name], dataclasses.MISSING
        extra = (overrides or {}).get(spec.name)
        added = len(parser._actions)
        if extra is not None or _is_mapping(spec.type):
            _add_field_argument(group, spec, extra or {})
        else:
            HfArgumentParser._parse_dataclass_field(group, spec)
        for action in parser._actions[added:]:
            _tidy(action)
        dests.append(spec.name)
    return dests


def _tidy(action: argparse.Action) -> None:
    """Help and errors name the dashed spelling only (`--batch_size` still parses); bools read --flag [true|false]."""
    action.option_strings = [name for name in action.option_strings if "_" not in name] or action.option_strings
    if action.type is string_to_bool and action.metavar is None:
        action.metavar = "true|false"


def from_args(dtype: type[T], args: argparse.Namespace, **changes: Any) -> T:
    """A `dtype` from the parsed flags named like its fields (a field without a flag keeps its default)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(dtype) if f.init and hasattr(args, f.name)}
    return dtype(**{**values, **changes})


# ---------------------------------------------------------------------------------- train, transfer, evaluate

TRAIN_DESCRIPTION = """Train a tagger from scratch.

Without flags this is xlner's default recipe, which converges in at most 20 epochs:
  - pretrained word vectors (--vectors auto: GloVe 6B 50d for en, chiVe for ja, from the
    `vectors` extra; the model keeps the rows of its training words and the 100,000 most frequent);
  - Japanese: a UniDic part-of-speech embedding (--part-of-speech);
  - a CRF head (--crf);
  - AdamW at 3e-3 decaying linearly to 0 over --epochs 20, batches of training sentences / 60
    (8 to 32), early stopping after 5 epochs without validation F1 gain; the best epoch is kept.
--no-... and --vectors none turn parts off; the paper's model is --vectors none --no-part-of-speech
--no-crf (and its schedule --batch-size 32 --learning-rate 2e-3 --epochs 80 --patience 10).
"""


def training_options(args: argparse.Namespace) -> TrainingOptions:
    """The `TrainingOptions` of a parsed `train` / `transfer` command line."""
    japanese = dataclasses.asdict(from_args(JapaneseTokenizerOptions, args)) if args.lang == "ja" else {}
    return from_args(TrainingOptions, args, tokenizer_options=japanese)


def transfer_options(args: argparse.Namespace) -> TransferOptions:
    """The `TransferOptions` of a parsed `transfer` command line (modules as given: `transfer` resolves them)."""
    return from_args(TransferOptions, args)


def _module_names(value: str) -> tuple[str, ...]:
    """`--modules char,classifier` → ("char", "classifier"), checked now so that a typo fails before any data is read.

    The names are passed on as given: `transfer` resolves them (classifier → context, head) itself.
    """
    from ..transfer_xlner import resolve_modules

    try:
        resolve_modules(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags shared by `train` and `transfer`."""
    add_dataclass_arguments(parser, DataArguments, title="data")
    add_dataclass_arguments(parser, TrainingOptions, title="training", exclude=NOT_FLAGS)
    add_dataclass_arguments(parser, JapaneseTokenizerOptions, title="Japanese tokenizer (--lang ja only)")


def train_command(args: argparse.Namespace) -> None:
    from ..training.trainer import train

    results = train(args.lang, args.train, args.validation, args.output_dir, training_options(args), args.test)
    _report(results, args.output_dir)


def transfer_command(args: argparse.Namespace) -> None:
    from ..training.transfer import transfer

    results = transfer(
        args.source, args.lang, args.train, args.validation, args.output_dir,
        training_options(args), transfer_options(args), args.test,
    )  # fmt: skip
    if isinstance(results, dict):  # --zero-shot: no training, the collapsed test scores
        print(json.dumps({"output_dir": args.output_dir, "zero_shot_test_f1": results["test"]["f1"]}))
        return
    _report(results, args.output_dir)


def word_space_command(args: argparse.Namespace) -> None:
    from ..training.word_space import build_word_space_map

    word_space = build_word_space_map(
        args.source_vectors, args.target_vectors, args.transliterations, args.held_out, args.ridge, args.seed
    )
    word_space.save(args.output)
    print(json.dumps({"output": args.output, **word_space.record()}, ensure_ascii=False))


def translate_train_command(args: argparse.Namespace) -> None:
    from ..training.data import read_conll
    from ..training.translate_train import is_native, nearest_target_words, translate_corpus, write_span_jsonl
    from ..training.vectors import load_vectors
    from ..training.word_space import WordSpaceMap, load_transliterations

    word_space = WordSpaceMap.load(args.word_space_map)
    sentences = read_conll(args.conll)[: args.max_sentences]
    source, target = load_vectors(word_space.source_vectors), load_vectors(word_space.target_vectors)
    words = [token for sentence in sentences for token in sentence["tokens"]]
    nearest = nearest_target_words(words, source, target, word_space.matrix)
    native = nearest_target_words(words, source, target, word_space.matrix, keep=is_native)
    records = translate_corpus(sentences, nearest, native, load_transliterations(word_space.transliterations))
    written = write_span_jsonl(records, args.output)
    entities = sum(len(record["entities"]) for record in records)
    print(json.dumps({"output": args.output, "sentences": written, "entities": entities, "translated_words": len(nearest)}))


def evaluate_command(args: argparse.Namespace) -> None:
    import torch

    from tokenization.tokenization_xlner import XLNerTokenizer

    from ..modeling_xlner import XLNerForTokenClassification
    from ..training.evaluation import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = XLNerForTokenClassification.from_pretrained(args.model)
    tokenizer = XLNerTokenizer.from_pretrained(args.model)
    scores = evaluate_model(model, tokenizer, args.data, batch_size=args.batch_size)
    print(json.dumps({key: scores[key] for key in ("precision", "recall", "f1", "n_gold", "n_pred")}))


def _report(results: "Results | None", output_dir: str) -> None:
    if results is None:  # a distributed run's other processes: the first one reports
        return
    summary = {"validation": results.validation.f1, **({"test": results.test.f1} if results.test else {})}
    seconds = results.seconds_per_epoch  # None when a resumed run had no epoch left to train
    timing = f"{seconds:.1f} s/epoch" if seconds is not None else "no epoch trained"
    print(f"saved to {output_dir}; F1 {json.dumps(summary)}; {timing}", file=sys.stderr)
    print(json.dumps({"output_dir": output_dir, **{f"{k}_f1": v for k, v in summary.items()}}))


# ---------------------------------------------------------------------------------- reproduce


def reproduce_plan(args: argparse.Namespace) -> "Plan":
    """The full plan (or `--quick`'s), narrowed and adjusted by the command's options; None keeps the plan's value."""
    from dataclasses import replace

    from ..training.reproduce import FULL_PLAN, QUICK_PLAN

    # The override flags are named like the Plan fields they set.
    changes = {name: getattr(args, name) for name in (*REPRODUCE_TRAINING_FIELDS, *REPRODUCE_TRANSFER_FIELDS)}
    changes.update(
        recipes=args.recipes,  # a tuple already (`_recipe_names`)
        sizes=tuple(args.sizes) if args.sizes else None,
        seeds=tuple(args.seeds) if args.seeds else None,
        combinations=tuple(args.combinations) if args.combinations else None,
        transfer_methods=tuple(dict.fromkeys(args.transfer_methods)) if args.transfer_methods else None,
        full_set=False if args.no_full_set else None,
        zero_shot=False if args.no_zero_shot else None,
        module_table_sizes=tuple(size for size in args.module_table_sizes if size) if args.module_table_sizes else None,
        module_table_method=args.module_table_method,
        ablation_size=args.ablation_size,
    )
    plan = replace(QUICK_PLAN if args.quick else FULL_PLAN, **{k: v for k, v in changes.items() if v is not None})
    return replace(plan, ablation_size=None) if args.no_ablation or args.ablation_size == 0 else plan


def _plan_values(names: Sequence[str], none_means: str | None = None) -> str:
    """The plan's values of these fields, for `reproduce --help`; `none_means` says what a None value of the plan is."""
    from ..training.reproduce import FULL_PLAN, QUICK_PLAN

    def shown(value: Any) -> str:
        return none_means if value is None and none_means else repr(value)

    values = []
    for name in names:
        full, quick = getattr(FULL_PLAN, name), getattr(QUICK_PLAN, name)
        values.append(f"{name} {shown(full)}" + ("" if quick == full else f" (--quick: {shown(quick)})"))
    return textwrap.fill("Default None keeps the plan's value: " + ", ".join(values) + ".", width=88)


def _recipe_names(value: str) -> tuple[str, ...]:
    """`--recipes paper,best` → ("paper", "best"), checked now so that a typo fails before any data is read."""
    from ..training.reproduce import check_recipes

    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    try:
        check_recipes(names)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not names:
        raise argparse.ArgumentTypeError("no recipe given")
    return names


def _transfer_method_name(value: str) -> str:
    """One `--transfer-methods` name, checked now so that a typo fails before any data is read."""
    from ..training.reproduce import check_transfer_methods

    try:
        check_transfer_methods([value])
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _transfer_method_list() -> str:
    """The transfer methods, one line each, for `reproduce --help`."""
    from ..training.reproduce import DEFAULT_TRANSFER_METHOD, TRANSFER_METHOD_HELP, TRANSFER_METHODS

    width = max(map(len, TRANSFER_METHODS))
    header = textwrap.fill(
        "Transfer methods (--transfer-methods): how a transfer run uses the English source, each with every "
        f"combination it applies to; a method but {DEFAULT_TRANSFER_METHOD} is the run name's last part. "
        f"The plan's: {DEFAULT_TRANSFER_METHOD}.",
        width=88,
    )
    return "\n".join([header, *(f"  {name:<{width}}  {TRANSFER_METHOD_HELP[name]}" for name in TRANSFER_METHODS)])


def _recipe_list() -> str:
    """The recipes, one line each, for `reproduce --help`."""
    from ..training.reproduce import FULL_PLAN, QUICK_PLAN, RECIPE_HELP, RECIPES

    width = max(map(len, RECIPES))
    header = textwrap.fill(
        "Recipes (--recipes): how every run trains, English source included; overrides of `xlner train`'s defaults. "
        f"The plan's: {','.join(FULL_PLAN.recipes)} (--quick: {','.join(QUICK_PLAN.recipes)}).",
        width=88,
    )
    return "\n".join([header, *(f"  {name:<{width}}  {RECIPE_HELP[name]}" for name in RECIPES)])


def reproduce_command(args: argparse.Namespace) -> None:
    from ..training.reproduce import reproduce

    report = reproduce(
        args.output_dir, data_dir=args.data_dir, source=args.source, jobs=args.jobs, threads=args.threads,
        plan=reproduce_plan(args), report_only=args.report_only, only=args.runs, code_switch_source=args.code_switch_source,
    )  # fmt: skip
    print(f"reproduction took {report['wall_seconds'] / 60:.1f} min; see {args.output_dir}/results.md", file=sys.stderr)


def _add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataclass_arguments(
        parser, ReproduceArguments, title="reproduction", description=_recipe_list() + "\n\n" + _transfer_method_list(),
        overrides={"recipes": {"type": _recipe_names}, "transfer_methods": {"type": _transfer_method_name, "nargs": "+"}},
    )  # fmt: skip
    plan_defaults = dict.fromkeys((*REPRODUCE_TRAINING_FIELDS, *REPRODUCE_TRANSFER_FIELDS))
    add_dataclass_arguments(
        parser, TrainingOptions, title="every run (epochs, patience: the Japanese runs; they override every recipe's)",
        description=_plan_values(REPRODUCE_TRAINING_FIELDS, none_means="each recipe's") + "\n"
        + _plan_values(("english_epochs", "english_patience"), none_means="each recipe's").replace(
            "Default None keeps the plan's value", "The English sources (no flag)"
        ),
        only=REPRODUCE_TRAINING_FIELDS, defaults=plan_defaults,
    )  # fmt: skip
    add_dataclass_arguments(
        parser, TransferOptions, title="transfer runs", description=_plan_values(REPRODUCE_TRANSFER_FIELDS),
        only=REPRODUCE_TRANSFER_FIELDS, defaults=plan_defaults,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlner", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress; show tracebacks of errors")
    # CommandParser for every sub-command, also those added by predict.py and hub_cards/push.py: defaults in --help.
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)

    train_parser = commands.add_parser(
        "train", help="train a tagger from scratch", description=TRAIN_DESCRIPTION
    )
    _add_training_arguments(train_parser)
    train_parser.set_defaults(run=train_command)

    transfer_parser = commands.add_parser(
        "transfer", help="train a tagger that starts from modules of a saved one",
        description="Train a tagger whose chosen modules start from those of a saved model.",
    )  # fmt: skip
    add_dataclass_arguments(transfer_parser, TransferArguments, title="source")
    add_dataclass_arguments(
        transfer_parser, TransferOptions, title="transfer",
        overrides={"modules": {"type": _module_names, "required": True, "default": None}},
    )  # fmt: skip
    _add_training_arguments(transfer_parser)
    transfer_parser.set_defaults(run=transfer_command)

    evaluate_parser = commands.add_parser(
        "evaluate", help="span-level P/R/F1 of a saved model on a data file",
        description="Span-level precision, recall and F1 of a saved model on a data file, as one JSON line.",
    )  # fmt: skip
    add_dataclass_arguments(evaluate_parser, EvaluateArguments, title="evaluation")
    evaluate_parser.set_defaults(run=evaluate_command)

    word_space_parser = commands.add_parser(
        "word-space", help="map the target's word vectors into the source's (for transferring `word`)",
        description=WordSpaceArguments.__doc__ + "\n\nPrints the seed dictionary's size and the map's precision@1 as JSON.",
    )  # fmt: skip
    add_dataclass_arguments(word_space_parser, WordSpaceArguments, title="word space")
    word_space_parser.set_defaults(run=word_space_command)

    translate_parser = commands.add_parser(
        "translate-train", help="English CoNLL data translated word by word into a Japanese corpus",
        description=TranslateTrainArguments.__doc__,
    )  # fmt: skip
    add_dataclass_arguments(translate_parser, TranslateTrainArguments, title="translate-train")
    translate_parser.set_defaults(run=translate_train_command)

    from .predict import add_predict_parser

    add_predict_parser(commands)
    from ..training import reproduce as reproduce_module

    reproduce_parser = commands.add_parser(
        "reproduce", help="the paper's experiments on the public data, end to end", description=reproduce_module.__doc__
    )
    _add_reproduce_arguments(reproduce_parser)
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
