"""The `xlner` command line: flags derived from the options dataclasses, and `--help` showing every default."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, fields, replace

import pytest

from modeling_xlner.cli import (
    DataArguments,
    EvaluateArguments,
    ReproduceArguments,
    TransferArguments,
    build_parser,
    reproduce_plan,
    training_options,
    transfer_options,
)
from modeling_xlner.training.options import JapaneseTokenizerOptions, TrainingOptions, TransferOptions

COMMANDS = ("train", "transfer", "evaluate", "reproduce", "predict", "push")
DATA = ["--lang", "ja", "--train", "t.jsonl", "--validation", "v.jsonl", "--output-dir", "out"]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(commands.choices)


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if not isinstance(action, argparse._HelpAction)]


def dests(command: str) -> set[str]:
    return {action.dest for action in options(subparsers()[command])}


def names(*dataclass_types: type, exclude: tuple[str, ...] = ()) -> set[str]:
    return {f.name for dtype in dataclass_types for f in fields(dtype) if f.name not in exclude}


def help_output(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def flags_listed(help_text: str) -> set[str]:
    """The option strings of the help's option lines (`  --a A, --b A   help`)."""
    listed = set()
    for line in help_text.splitlines():
        if re.match(r"^  -", line):
            listed.update(re.findall(r"(?:^|, )(-{1,2}[\w-]+)", line.strip().split("  ")[0]))
    return listed


# ---------------------------------------------------------------------------------- --help


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_every_option_with_its_help_and_default(command, capsys):
    text = help_output(command, capsys)
    flat = " ".join(text.split())  # the formatter wraps lines anywhere
    actions = options(subparsers()[command])
    assert flags_listed(text) == {name for action in actions for name in action.option_strings} | {"-h", "--help"}
    for action in actions:
        assert action.help, f"{command} {action.option_strings}: no help"
        assert " ".join(action.help.split()) in flat
        if action.default is not None and not action.required:
            assert f"(default: {action.default})" in flat, f"{command} {action.option_strings}: default not shown"


@pytest.mark.parametrize("command", ["train", "transfer", "evaluate", "reproduce", "predict"])
def test_required_flags_show_no_default(command, capsys):
    text = " ".join(help_output(command, capsys).split())
    for action in options(subparsers()[command]):
        if action.required:
            assert f"{action.help} (default" not in text


def test_help_shows_the_dashed_spelling_and_underscores_still_parse(capsys):
    text = help_output("train", capsys)
    assert "--batch-size BATCH_SIZE" in text and "--batch_size" not in text
    args = build_parser().parse_args(["train", *DATA, "--batch_size", "8", "--learning_rate", "0.1"])
    assert (args.batch_size, args.learning_rate) == (8, 0.1)


# ---------------------------------------------------------------------------------- flags = dataclass fields


def test_train_flags_are_exactly_the_dataclass_fields():
    expected = names(DataArguments, JapaneseTokenizerOptions) | names(TrainingOptions, exclude=("tokenizer_options",))
    assert dests("train") == expected


def test_transfer_flags_add_the_transfer_options_to_train():
    assert dests("transfer") == dests("train") | names(TransferArguments, TransferOptions)


def test_evaluate_and_reproduce_flags_are_dataclass_fields():
    assert dests("evaluate") == names(EvaluateArguments)
    assert dests("reproduce") == names(ReproduceArguments) | {
        "epochs", "patience", "model_config", "shared_bigrams", "freeze_transferred_epochs", "transferred_lr_scale", "source_anchor",
    }  # fmt: skip


def test_transfer_and_reproduce_share_the_transfer_options_flags():
    commands = subparsers()
    shared = ("shared_bigrams", "freeze_transferred_epochs", "transferred_lr_scale", "source_anchor", "epochs", "patience", "model_config")
    by_dest = {command: {action.dest: action for action in options(commands[command])} for command in ("transfer", "reproduce")}
    for dest in shared:
        transfer, reproduce = by_dest["transfer"][dest], by_dest["reproduce"][dest]
        same = ("option_strings", "help", "type", "metavar", "nargs")
        assert [getattr(transfer, key) for key in same] == [getattr(reproduce, key) for key in same], dest
        assert reproduce.default is None  # None: the plan's value
    help_by_field = {f.name: f.metadata["help"] for f in fields(TransferOptions)}
    assert by_dest["reproduce"]["shared_bigrams"].help == help_by_field["shared_bigrams"]


def test_building_the_parser_leaves_the_dataclass_fields_alone():
    build_parser()
    types = {f.name: f.type for dtype in (TrainingOptions, TransferOptions) for f in fields(dtype)}
    assert types["threads"] == int | None and types["modules"] == str | Sequence[str]  # HfArgumentParser rewrites a copy
    assert json.loads(json.dumps(asdict(TrainingOptions())))["device"] == "cpu"


# ---------------------------------------------------------------------------------- command line → options


def test_train_command_line_maps_onto_training_options():
    args = build_parser().parse_args([
        "train", *DATA, "--epochs", "3", "--batch-size", "8", "--learning-rate", "0.01", "--lr-scheduler", "cosine",
        "--max-grad-norm", "1.5", "--max-train-samples", "100", "--seed", "7", "--patience", "2", "--threads", "0",
        "--min-word-frequency", "2", "--max-words", "500", "--min-bigram-frequency", "3", "--max-bigrams", "400",
        "--set", "a=1", "b=x", "--eval-batch-size", "16", "--resume-from-checkpoint", "ck", "--max-steps", "9",
        "--device", "auto", "--char-input", "surface", "--word-input", "romaji", "--romaji-source", "reading",
    ])  # fmt: skip
    assert training_options(args) == TrainingOptions(
        epochs=3, batch_size=8, learning_rate=0.01, lr_scheduler="cosine", max_grad_norm=1.5, max_train_samples=100,
        seed=7, patience=2, threads=None, min_word_frequency=2, max_words=500, min_bigram_frequency=3, max_bigrams=400,
        model_config={"a": 1, "b": "x"}, eval_batch_size=16, resume_from_checkpoint="ck", max_steps=9, device="auto",
        tokenizer_options={"char_input": "surface", "word_input": "romaji", "romaji_source": "reading"},
    )  # fmt: skip
    assert (args.lang, args.train, args.validation, args.output_dir, args.test) == ("ja", "t.jsonl", "v.jsonl", "out", None)


def test_defaults_are_the_dataclass_defaults():
    args = build_parser().parse_args(["train", *DATA])
    assert training_options(args) == TrainingOptions(
        tokenizer_options={"char_input": "romaji", "word_input": "surface", "romaji_source": "surface"}
    )
    english = build_parser().parse_args(["train", *DATA, "--lang", "en", "--char-input", "surface"])
    assert training_options(english) == TrainingOptions()  # the Japanese tokenizer flags do not apply


def test_set_parses_json_values_and_repeats_add_up():
    args = build_parser().parse_args(["train", *DATA, "--set", "a=1", "b=x", "c=[1, 2]", "--set", "d=true", "a=0.5"])
    assert training_options(args).model_config == {"a": 0.5, "b": "x", "c": [1, 2], "d": True}


@pytest.mark.parametrize("bad", ["word_dropout", "=1"])
def test_bad_set_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", *DATA, "--set", "a=1", bad])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --set/--model-config: expected KEY=VALUE, got {bad!r}" in error


def test_bad_choice_and_missing_required_flags_are_usage_errors(capsys):
    for argv in (["train", *DATA, "--char-input", "kana"], ["train", "--lang", "ja"], ["transfer", *DATA, "--source", "s"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 2
    assert "--modules" in capsys.readouterr().err


def test_transfer_command_line_maps_onto_transfer_options():
    args = build_parser().parse_args([
        "transfer", *DATA, "--source", "english", "--modules", "char, classifier", "--label-map", "map.json",
        "--shared-bigrams", "--freeze-transferred-epochs", "1", "--transferred-lr-scale", "0.5",
    ])  # fmt: skip
    # the names as given: `transfer` resolves them (classifier → context, head), once
    assert transfer_options(args) == TransferOptions(
        modules=("char", "classifier"), label_map="map.json", shared_bigrams=True, freeze_transferred_epochs=1,
        transferred_lr_scale=0.5,
    )  # fmt: skip
    assert args.source == "english"
    defaults = build_parser().parse_args(["transfer", *DATA, "--source", "english", "--modules", "word"])
    assert transfer_options(defaults) == TransferOptions(modules=("word",))
    explicit = build_parser().parse_args(["transfer", *DATA, "--source", "e", "--modules", "word", "--shared-bigrams", "false"])
    assert explicit.shared_bigrams is False


def test_unknown_module_fails_at_parse_time(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["transfer", *DATA, "--source", "s", "--modules", "char,wordz"])
    assert "unknown module 'wordz'" in capsys.readouterr().err


def test_reproduce_overrides_keep_the_plan_unless_given():
    from modeling_xlner.training.reproduce import FULL_PLAN, QUICK_PLAN

    parse = lambda *argv: reproduce_plan(build_parser().parse_args(["reproduce", "--output-dir", "o", *argv]))  # noqa: E731
    assert parse() == FULL_PLAN
    assert parse("--quick", "--epochs", "3") == replace(QUICK_PLAN, epochs=3)
    assert parse("--shared-bigrams", "false", "--set", "word_dropout=0.2") == replace(
        FULL_PLAN, shared_bigrams=False, model_config={"word_dropout": 0.2}
    )
    assert parse("--sizes", "250", "--seeds", "1", "2", "--combinations", "classifier", "--no-full-set") == replace(
        FULL_PLAN, sizes=(250,), seeds=(1, 2), combinations=("classifier",), full_set=False
    )
    assert parse("--module-table-sizes", "500") == replace(FULL_PLAN, module_table_sizes=(500,))
    assert parse("--module-table-method", "self-training") == replace(FULL_PLAN, module_table_method="self-training")
    with pytest.raises(ValueError, match="self-trainnig"):
        parse("--module-table-method", "self-trainnig")
    assert FULL_PLAN.zero_shot and parse("--no-zero-shot") == replace(FULL_PLAN, zero_shot=False)
    assert parse("--module-table-sizes", "0").module_table_sizes == () and FULL_PLAN.module_table_sizes == (250, 500)
    assert parse("--ablation-size", "250") == replace(FULL_PLAN, ablation_size=250)
    assert parse("--no-ablation").ablation_size is None and parse("--ablation-size", "0").ablation_size is None
    # --epochs / --patience None: each recipe's; given, they override every recipe's.
    assert (FULL_PLAN.epochs, FULL_PLAN.patience, QUICK_PLAN.epochs, QUICK_PLAN.patience) == (None,) * 4
    assert parse("--patience", "3") == replace(FULL_PLAN, patience=3)


def test_reproduce_recipes_are_comma_separated_and_checked(capsys):
    from modeling_xlner.training.reproduce import FULL_PLAN, QUICK_PLAN, RECIPES

    parse = lambda *argv: reproduce_plan(build_parser().parse_args(["reproduce", "--output-dir", "o", *argv]))  # noqa: E731
    assert parse().recipes == parse("--quick").recipes == ("best",)  # the full plan fits 3 hours with one recipe
    assert parse("--recipes", "paper,best").recipes == ("paper", "best")
    assert parse("--recipes", "paper, no-crf,paper") == replace(FULL_PLAN, recipes=("paper", "no-crf"))
    assert parse("--quick", "--recipes", "no-pos") == replace(QUICK_PLAN, recipes=("no-pos",))
    for bad in ("paper,bset", ","):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(["reproduce", "--output-dir", "o", "--recipes", bad])
        assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --recipes: unknown recipe 'bset'; recipes: " + ", ".join(RECIPES) in error
    assert "argument --recipes: no recipe given" in error


def test_reproduce_help_lists_the_recipes_one_line_each(capsys):
    from modeling_xlner.training.reproduce import RECIPE_HELP

    lines = help_output("reproduce", capsys).splitlines()
    for recipe, text in RECIPE_HELP.items():
        assert any(line.split() == [recipe, *text.split()] for line in lines), recipe
