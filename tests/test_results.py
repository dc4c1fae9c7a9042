"""results.json as `Results`: what the trainer writes loads back typed, saves back equal, and bad files are clear errors."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import sys
from pathlib import Path

import pytest

from modeling_xlner.training import results as results_module
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.results import (
    BoundaryCeiling,
    CurvePoint,
    DataCounts,
    Results,
    RunRecord,
    SplitScores,
    TransferRecord,
    TypeScores,
    from_dict,
)

LABELS = ["O", "B-人名", "I-人名", "B-地名", "I-地名"]


def _scores(**extra) -> dict:
    return {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "n_gold": 8, "n_pred": 4, **extra}


def written_by_trainer(transfer: bool = False) -> dict:
    """A results.json as `run_training` / `train` / `transfer` write it today, key for key."""
    results = {
        "language": "ja",
        "labels": LABELS,
        "data": {"train_sentences": 500, "validation_sentences": 534, "train_unrepresentable_entities": 4},
        "boundary_ceiling": {
            "train": {"n_gold": 1285, "n_representable": 1281, "recall_ceiling": 0.9968871595330739},
            "validation": {"n_gold": 1245, "n_representable": 1239, "recall_ceiling": 0.9951807228915662},
        },
        "validation": _scores(),
        "best_epoch": 2,
        "epochs_trained": 2,
        "seconds_per_epoch": 2.5,
        "learning_curve": [
            {"epoch": 1, "train_loss": None, "validation_precision": 0.0, "validation_recall": 0.0, "validation_f1": 0.0, "seconds": None},
            {"epoch": 2, "train_loss": 1.2, "validation_precision": 0.5, "validation_recall": 0.25, "validation_f1": 0.33, "seconds": 2.5},
        ],
        "seed": 1,
        "threads": 1,
        "processes": 1,
        "options": dataclasses.asdict(TrainingOptions(seed=1, tokenizer_options={"char_input": "romaji"})),
        "model_config": {"word_embedding_dim": 100, "dropout": 0.5, "word_vocab_size": 4269},
        "test": _scores(per_type={"人名": {**_scores(), "n_correct": 2}}),
        "train_file": "/data/ner-wikipedia-ja/train.jsonl",
        "validation_file": "/data/ner-wikipedia-ja/validation.jsonl",
        "test_file": "/data/ner-wikipedia-ja/test.jsonl",
        "dropped_overlapping_entities": 0,
    }
    results["data"]["test_sentences"] = 535
    results["boundary_ceiling"]["test"] = {"n_gold": 1333, "n_representable": 1321, "recall_ceiling": 0.99}
    if transfer:
        results["transfer"] = {
            "source": "runs/en",
            "modules": ["char", "context", "head"],
            "rows_copied": {"char": [356, 408], "head": [5, 5]},
            "label_map": {"人名": "PER", "地名": "LOC"},
            "shared_bigrams": True,
            "freeze_transferred_epochs": 0,
            "transferred_lr_scale": None,
        }
    return results


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_file_of_the_current_trainer_loads_typed(tmp_path):
    results = Results.load(_write(tmp_path, written_by_trainer()))
    assert results.data == DataCounts(train_sentences=500, validation_sentences=534, train_unrepresentable_entities=4, test_sentences=535)
    assert results.boundary_ceiling["test"] == BoundaryCeiling(n_gold=1333, n_representable=1321, recall_ceiling=0.99)
    assert results.validation == SplitScores(precision=0.5, recall=0.25, f1=1 / 3, n_gold=8, n_pred=4)
    assert results.test.per_type["人名"] == TypeScores(precision=0.5, recall=0.25, f1=1 / 3, n_gold=8, n_pred=4, n_correct=2)
    assert results.learning_curve[0] == CurvePoint(
        epoch=1, train_loss=None, validation_precision=0.0, validation_recall=0.0, validation_f1=0.0, seconds=None
    )
    assert results.options == dataclasses.asdict(TrainingOptions(seed=1, tokenizer_options={"char_input": "romaji"}))
    assert results.transfer is None and results.transfer_options is None and results.run is None
    # Every key written today is a field: nothing is dropped on the way.
    assert set(written_by_trainer()) <= {field.name for field in dataclasses.fields(Results)}


def test_a_transfer_run_of_the_current_trainer_splits_report_and_training_options(tmp_path):
    results = Results.load(_write(tmp_path, written_by_trainer(transfer=True)))
    # The record is exactly config.json's `transferred_from` (TransferReport.to_config()) ...
    config_record = {"source": "runs/en", "modules": ["char", "context", "head"], "rows_copied": {"char": [356, 408], "head": [5, 5]},
                     "label_map": {"人名": "PER", "地名": "LOC"}, "word_space_map": None, "word_rows_from_unknown": None, "word_rows_translated": None,
                     "shape_roles": None}  # fmt: skip
    assert results.transfer == from_dict(TransferRecord, config_record)
    # ... and the training-only options have their own field.
    assert results.transfer_options == {"shared_bigrams": True, "freeze_transferred_epochs": 0, "transferred_lr_scale": None}
    saved = json.loads(results.save(tmp_path / "again.json").read_text(encoding="utf-8"))
    assert saved["transfer"] == config_record and saved["transfer_options"] == results.transfer_options
    assert Results.load(tmp_path / "again.json") == results
    # A record without a label map (the default type mapping) is the same record as config's.
    del config_record["label_map"]
    assert from_dict(TransferRecord, config_record).label_map is None


def test_save_and_load_round_trip(tmp_path):
    original = Results.from_dict(written_by_trainer(transfer=True))
    original.run = RunRecord(method="char+classifier", size=500, seed=1, inputs="char=romaji,word=japanese", name="x", wall_seconds=61.5)
    path = original.save(tmp_path / "results.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '\n  "language": "ja",' in text and "人名" in text  # indent 2, not \u-escaped
    assert Results.load(path) == original
    # Every field is written, None included: one file shape for every run.
    assert set(json.loads(text)) == {field.name for field in dataclasses.fields(Results)}
    assert not list(tmp_path.glob(".*.tmp"))


def test_without_optional_fields(tmp_path):
    data = written_by_trainer()
    for key in ("test",):
        del data[key]
    del data["data"]["test_sentences"]
    data["test_file"] = None
    data["validation"].pop("per_type", None)
    results = Results.from_dict(data)
    assert results.test is None and results.data.test_sentences is None
    assert Results.load(results.save(tmp_path / "r.json")) == results


def test_numbers_are_floats_where_floats_are_due():
    data = written_by_trainer()
    data["validation"]["precision"] = 0  # JSON writers may drop ".0"
    results = Results.from_dict(data)
    assert results.validation.precision == 0.0 and isinstance(results.validation.precision, float)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("seed"), r"results\.json: missing field seed$"),
        (lambda d: d["validation"].pop("f1"), r"missing field validation\.f1$"),
        (lambda d: d["boundary_ceiling"]["test"].pop("n_gold"), r"missing field boundary_ceiling\.test\.n_gold$"),
        (lambda d: d.update(extra=1, another=2), r"unknown field another, extra$"),
        (lambda d: d["data"].update(dev_sentences=3), r"unknown field data\.dev_sentences$"),
        (lambda d: d["validation"].update(f1="high"), r"field validation\.f1: expected a number, got \"high\""),
        (lambda d: d.update(threads=True), r"field threads: expected an integer, got true"),
        (lambda d: d.update(epochs_trained=2.5), r"field epochs_trained: expected an integer, got 2\.5"),
        (lambda d: d["learning_curve"][1].update(epoch="2"), r"field learning_curve\[1\]\.epoch: expected an integer"),
        (lambda d: d.update(labels="O"), r"field labels: expected a list"),
        (lambda d: d.update(data=None), r"field data: expected an object, got null"),
        (lambda d: d.update(best_epoch=None, test=None), None),  # nullable fields: fine
    ],
)
def test_bad_files_name_the_file_and_the_field(tmp_path, change, message):
    data = copy.deepcopy(written_by_trainer())
    change(data)
    path = _write(tmp_path, data)
    if message is None:
        Results.load(path)
        return
    with pytest.raises(ValueError, match=message) as error:
        Results.load(path)
    assert str(error.value).startswith(f"{path}: ")


def test_not_json_or_not_an_object(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a readable JSON file"):
        Results.load(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"field \(top level\): expected an object"):
        Results.load(path)
    with pytest.raises(FileNotFoundError):
        Results.load(tmp_path / "absent.json")


def test_fields_are_keyword_only():
    with pytest.raises(TypeError):
        BoundaryCeiling(10, 9, 0.9)
    assert BoundaryCeiling(n_gold=10, n_representable=9, recall_ceiling=0.9).n_gold == 10


def test_results_module_needs_only_the_standard_library():
    """`hub_cards` reads results without the training stack (torch, datasets) being needed by this module."""
    tree = ast.parse(Path(results_module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
