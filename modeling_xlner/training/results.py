"""results.json of a training run, as typed dataclasses: `Results` is the schema.

The trainer builds a `Results` and saves it; the model card (`hub_cards`) and `xlner reproduce`
load it back. `save` writes every field, None included (so every key is always present);
`load` / `from_dict` check each field's type and refuse unknown or missing fields with a
ValueError naming the file and the field.

Standard library only: `hub_cards` imports this without the training stack.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

T = TypeVar("T")

# Training-only transfer options that results.json files written before `transfer_options`
# existed kept inside the "transfer" record (see `Results.from_dict`).
TRANSFER_OPTION_KEYS = ("shared_bigrams", "freeze_transferred_epochs", "transferred_lr_scale")


@dataclass(kw_only=True)
class TypeScores:
    """Span-level scores of one entity type."""

    precision: float
    recall: float
    f1: float
    n_gold: int
    n_pred: int
    n_correct: int


@dataclass(kw_only=True)
class SplitScores:
    """Span-level micro scores of one split; `per_type` only for the test split."""

    precision: float
    recall: float
    f1: float
    n_gold: int
    n_pred: int
    per_type: dict[str, TypeScores] | None = None


@dataclass(kw_only=True)
class BoundaryCeiling:
    """How many gold entities the tokenizer's word boundaries can represent (`data.boundary_ceiling`)."""

    n_gold: int
    n_representable: int
    recall_ceiling: float


@dataclass(kw_only=True)
class DataCounts:
    train_sentences: int
    validation_sentences: int
    train_unrepresentable_entities: int
    test_sentences: int | None = None


@dataclass(kw_only=True)
class CurvePoint:
    """One epoch of the learning curve; loss and seconds are None when unknown (a resumed run)."""

    epoch: int
    train_loss: float | None
    validation_precision: float
    validation_recall: float
    validation_f1: float
    seconds: float | None


@dataclass(kw_only=True)
class TransferRecord:
    """Where a transferred model's modules came from: config.json's ``transferred_from``, the same record.

    `rows_copied` maps each row-aligned module to ``[rows copied, rows in the target]``.
    """

    source: str
    modules: list[str]
    rows_copied: dict[str, list[int]]
    label_map: dict[str, str] | None = None
    word_space_map: list[int] | None = None  # shape of the map that carried the word projection across
    word_rows_from_unknown: int | None = None  # target words started from the source's <unk> row
    word_rows_translated: int | None = None  # target words started from their dictionary translation's row
    shape_roles: dict[str, str] | None = None  # target word shape -> source shape whose row it started from


@dataclass(kw_only=True)
class SelfTrainingRecord:
    """A student's teacher and what it tagged (`--unlabeled-data`, training/self_training.py)."""

    teacher: str  # the teacher's folder
    teacher_validation_f1: float
    teacher_test_f1: float | None
    unlabeled_file: str
    gold_texts: int  # labelled training texts (the teacher's training subset)
    gold_copies: int = 1  # times the labelled texts appear in the student's data (`self_training_gold_copies`)
    tagged_texts: int  # unlabelled texts the teacher tagged
    tagged_entities: int
    texts_left_out: int  # blank, repeated, or also among the labelled texts
    round: int = 1  # students in a row (`self_training_rounds`): the first learns from the trained teacher
    # With several teachers (`self_training_teachers`): every teacher's folder and test F1, `teacher` first; the
    # tags are the entities more than half of them found. Empty: `teacher` alone.
    voting_teachers: list[str] = field(default_factory=list)
    voting_teachers_test_f1: list[float | None] = field(default_factory=list)
    scratch_teachers: int = 0  # the last of `voting_teachers` that started from scratch (`self_training_scratch_teachers`)
    unlabeled_ranges: int = 0  # disputed spans left unlabelled in the student's data (`self_training_partial_labels`)


@dataclass(kw_only=True)
class RunRecord:
    """Which `xlner reproduce` run made these results."""

    method: str
    size: int | None
    seed: int
    inputs: str
    name: str
    wall_seconds: float
    # The recipe (`reproduce.RECIPES`) the run trained with. Files from before recipes load as "best";
    # `reproduce.recipe_mismatches` tells when their recorded options are not its.
    recipe: str = "best"
    # The transfer method (`reproduce.TRANSFER_METHODS`); files from before transfer methods were the plain copy.
    transfer_method: str = "copy"


@dataclass(kw_only=True)
class Results:
    """results.json. `options` is ``dataclasses.asdict(TrainingOptions)``; `transfer_options` the
    training-only transfer options of a transfer run (shared_bigrams, freeze_transferred_epochs,
    transferred_lr_scale); `model_config` the model's size hyperparameters."""

    language: str
    labels: list[str]
    data: DataCounts
    boundary_ceiling: dict[str, BoundaryCeiling]  # split name -> ceiling; span data only
    validation: SplitScores
    best_epoch: int | None
    epochs_trained: int
    seconds_per_epoch: float | None
    # Wall seconds from the start of training to the end of the best epoch's evaluation (this process's).
    seconds_to_best_epoch: float | None = None
    learning_curve: list[CurvePoint]
    seed: int
    threads: int
    processes: int
    options: dict[str, Any]
    model_config: dict[str, Any]
    train_file: str
    validation_file: str
    test_file: str | None
    dropped_overlapping_entities: int
    test: SplitScores | None = None
    transfer: TransferRecord | None = None
    transfer_options: dict[str, Any] | None = None
    run: RunRecord | None = None
    tag_schemes: dict[str, str] | None = None  # word data: each split's tag scheme as read (converted to IOB2)
    # Pretrained vectors: name, rows kept, dimensions; per split the share of word tokens in the word
    # vocabulary, with a vector, and either ("known").
    vectors: dict[str, Any] | None = None
    code_switched_words: int | None = None  # training word occurrences read as romaji (code-switched English source)
    self_training: SelfTrainingRecord | None = None  # a student's teacher (`--unlabeled-data`)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write results.json (UTF-8, indent 2), atomically: a reader never sees half a file."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Results:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable JSON file ({error})") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "results") -> Results:
        """Typed `Results` from a results.json object; `source` names it in errors."""
        transfer = data.get("transfer") if isinstance(data, dict) else None
        if isinstance(transfer, dict) and "transfer_options" not in data:
            # Written before `transfer_options`: the training-only options sat in the transfer record.
            moved = {key: transfer[key] for key in TRANSFER_OPTION_KEYS if key in transfer}
            if moved:
                kept = {key: value for key, value in transfer.items() if key not in moved}
                data = {**data, "transfer": kept, "transfer_options": moved}
        return from_dict(cls, data, source)


# ---------------------------------------------------------------------------------- loading


def from_dict(cls: type[T], data: Any, source: str = "results") -> T:
    """An instance of dataclass `cls` from JSON data, every field type-checked (nested dataclasses,
    lists, dicts, `X | None`); ValueError ``"{source}: field {name}: ..."`` on the first mismatch."""
    return _load(cls, data, source, "")


def _load(kind: Any, value: Any, source: str, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):  # only `X | None` occurs in the schema
        if value is None:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _load(inner, value, source, where)
    if dataclasses.is_dataclass(kind):
        return _load_dataclass(kind, _expect(value, dict, "an object", source, where), source, where)
    if origin is list:
        return [_load(args[0], item, source, f"{where}[{i}]") for i, item in enumerate(_expect(value, list, "a list", source, where))]
    if origin is dict:
        mapping = _expect(value, dict, "an object", source, where)
        return {key: _load(args[1], item, source, _join(where, key)) for key, item in mapping.items()}
    if kind is Any:
        return value
    if kind is float:  # JSON has one number type: an integral float may come back as an int
        return float(_expect(value, (int, float), "a number", source, where))
    names = {int: "an integer", str: "a string", bool: "true or false"}
    return _expect(value, kind, names.get(kind, kind.__name__), source, where)


def _load_dataclass(cls: type, value: dict[str, Any], source: str, where: str) -> Any:
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ValueError(f"{source}: unknown field {', '.join(_join(where, name) for name in unknown)}")
    required = [name for name, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in value]
    if missing:
        raise ValueError(f"{source}: missing field {', '.join(_join(where, name) for name in missing)}")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _load(hints[name], item, source, _join(where, name)) for name, item in value.items()})


def _expect(value: Any, kind: type | tuple[type, ...], name: str, source: str, where: str) -> Any:
    # bool is an int subclass in Python, not a number in results.json.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{source}: field {where or '(top level)'}: expected {name}, got {json.dumps(value, default=repr, ensure_ascii=False)[:60]}")
    return value


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


__all__ = [
    "Results",
    "SplitScores",
    "TypeScores",
    "BoundaryCeiling",
    "DataCounts",
    "CurvePoint",
    "TransferRecord",
    "RunRecord",
    "SelfTrainingRecord",
    "from_dict",
]
