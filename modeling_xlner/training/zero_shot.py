# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Zero-shot transfer (`xlner transfer --zero-shot`): the source model applied to the target language with
no target labels at all.

The chosen modules are copied (every one for the full method; `char,classifier` is the paper's copy,
its word module fresh) by the model builder of `xlner transfer` (`build_transferred_model`: shared
bigrams, script shapes and translated rows act as in a transfer run); the target's tokenizer
(vocabularies from the training texts, their labels unused) feeds it, and `word_space_map` carries
the word projection across vector tables. The model
keeps the source's labels, so the test set is scored with its entity types collapsed onto the
source's through the label map (人名 → PER, 地名 → LOC, 法人名 → ORG, ...); types the map leaves out
are dropped from the gold. The folder holds the model and `zero_shot.json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import set_seed

from ..configuration_xlner import XLNerConfig
from ..transfer_xlner import DEFAULT_LABEL_MAP, read_label_map, resolve_modules
from ..decoding_xlner import split_label
from .data import load_data, is_span_data
from .evaluation import headline, score_split, tagging_pipeline
from .options import TrainingOptions, TransferOptions
from .transfer import build_transferred_model
from .word_space import WordSpaceMap

logger = logging.getLogger(__name__)

ZERO_SHOT_FILE = "zero_shot.json"


def collapse_types(dataset: datasets.Dataset, type_map: Mapping[str, str]) -> datasets.Dataset:
    """Gold entity types renamed through `type_map` (target type → source type); unmapped types dropped."""
    if is_span_data(dataset):
        def collapse(example: dict) -> dict:
            entities = [{**e, "type": type_map[e["type"]]} for e in example["entities"] if e["type"] in type_map]
            return {"entities": entities}
    else:
        def collapse(example: dict) -> dict:
            tags = []
            for tag in example["ner_tags"]:
                prefix, name = split_label(tag)
                tags.append(f"{prefix}-{type_map[name]}" if prefix and name in type_map else "O")
            return {"ner_tags": tags}
    return dataset.map(collapse, desc="collapsing entity types")


def zero_shot(
    source: str,
    language: str,
    train_source: str,
    test_source: str | None,
    output_dir: str | Path,
    options: TrainingOptions,
    transfer_options: TransferOptions,
    validation_source: str | None = None,
) -> dict[str, Any]:
    """Copy the modules of `source` behind a `language` tokenizer, score the collapsed test set, save both.

    With `options.unlabeled_data`, that model is the teacher (in OUTPUT_DIR/teacher) of a student trained on
    its tags of those texts, still without a target label (self_training.py); the folder holds the student.
    """
    if test_source is None:
        raise ValueError("--zero-shot scores the test set: give --test")
    if "head" not in resolve_modules(transfer_options.modules):
        raise ValueError("--zero-shot tags with the source's head: transfer `head` (or `classifier`)")
    type_map = read_label_map(transfer_options.label_map) or DEFAULT_LABEL_MAP
    if options.unlabeled_data:
        return _self_trained(source, language, train_source, validation_source, test_source, output_dir, options, transfer_options, type_map)
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    texts = load_data(train_source)  # vocabularies only: the labels are never read
    # An English source has no part-of-speech embedding to copy, and a fresh one would only add noise; a
    # Japanese source's (translate-train's) is copied, tag by tag.
    source_has_pos = bool(getattr(XLNerConfig.from_pretrained(source), "pos_vocab_size", 0))
    options = replace(options, part_of_speech=options.part_of_speech and source_has_pos)
    model, tokenizer, _ = build_transferred_model(source, texts, language, options, transfer_options, keep_source_labels=True)
    model.eval()
    test = collapse_types(load_data(test_source), type_map)
    scores = score_split(tagging_pipeline(model, tokenizer), test)
    record = {
        "source": source,
        "language": language,
        "test_file": test_source,
        "type_map": dict(type_map),
        "test": headline(scores) | {"per_type": scores.get("per_type")},
        "transfer": model.config.transferred_from,
        "word_space": WordSpaceMap.load(transfer_options.word_space_map).record() if transfer_options.word_space_map else None,
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / ZERO_SHOT_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("Zero-shot test F1 (types collapsed): %.4f", scores["f1"])
    return record


def _self_trained(
    source: str, language: str, train_source: str, validation_source: str | None, test_source: str, output_dir: str | Path,
    options: TrainingOptions, transfer_options: TransferOptions, type_map: Mapping[str, str],
) -> dict[str, Any]:
    """`zero_shot` with a student (`zero_shot_self_train`): the teacher is this function's model without it."""
    from .self_training import zero_shot_self_train
    from .transfer import transfer

    if validation_source is None:
        raise ValueError("--zero-shot with --unlabeled-data stops the student early on the validation texts: give --validation")
    teacher_options = replace(options, unlabeled_data=None)
    student_options = replace(transfer_options, zero_shot=False)

    def teach(folder: Path) -> dict[str, Any]:
        return zero_shot(source, language, train_source, test_source, folder, teacher_options, transfer_options)

    def stage(train_file: str, output: Path, stage_options: TrainingOptions, validation_file: str) -> Any:
        return transfer(source, language, train_file, validation_file, output, stage_options, student_options)

    record = zero_shot_self_train(teach, stage, validation_source, test_source, output_dir, options, dict(type_map))
    (Path(output_dir) / ZERO_SHOT_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("Zero-shot test F1 (types collapsed) of the self-trained student: %.4f (its teacher: %.4f)", record["test"]["f1"], record["teacher"]["test"]["f1"])
    return record


__all__ = ["ZERO_SHOT_FILE", "collapse_types", "zero_shot"]
