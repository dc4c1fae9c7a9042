"""Scoring a model on a split: the Trainer's per-epoch metric, and final evaluation through the pipeline.

Final scores (validation and test in results.json, `xlner evaluate`) come from the one inference path,
`XLNerTokenClassificationPipeline`: span data as raw texts (predicted character spans against gold
spans), word data (CoNLL) as word lists (predicted tags against gold tags). The Trainer's validation
after each epoch scores the logits of its own evaluation loop with the same `decode` and chunking.
"""

from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
from transformers import EvalPrediction

from tokenization.tokenization_xlner import XLNerTokenizer

from ..modeling_xlner import XLNerForTokenClassification
from ..pipeline_xlner import XLNerTokenClassificationPipeline
from .data import DataFormatError, boundary_ceiling, is_span_data, load_data, spans_to_word_tags, word_tags_to_spans
from .metric import load_span_metric

HEADLINE = ("precision", "recall", "f1", "n_gold", "n_pred")
IGNORE_INDEX = -100  # a word without a known label (span data's `unlabeled` ranges): the CRF sums over every label


@dataclass
class EncodedSplit:
    """A split ready for the model, and what is needed to score predictions on it."""

    name: str
    features: datasets.Dataset  # input_ids, char_ids, shape_ids, labels, length
    offsets: list[list[tuple[int, int]]]
    gold: list[list]  # IOB2 tags (word data) or "start:end:type" spans (span data)
    span_data: bool
    unrepresentable: int = 0


def _word_labels(example: dict, offsets, label2id: dict[str, int], name: str, index: int) -> tuple[list[str | None], list, int]:
    """(word tags, None where unlabelled; gold for the metric; entities the segmentation cannot represent) of one example."""
    if "text" in example:
        for entity in example["entities"]:
            if f"B-{entity['type']}" not in label2id:
                raise DataFormatError(name, f"entity type {entity['type']!r} is not a label of the model", record=index + 1)
        tags, missed = spans_to_word_tags(offsets, example["entities"])
        unlabeled = [(r["start"], r["end"]) for r in example.get("unlabeled") or []]
        tags = [None if tag == "O" and _overlaps(offsets[i], unlabeled) else tag for i, tag in enumerate(tags)]
        return tags, [f"{e['start']}:{e['end']}:{e['type']}" for e in example["entities"]], missed
    unknown = [tag for tag in example["ner_tags"] if tag not in label2id]
    if unknown:
        raise DataFormatError(name, f"label {unknown[0]!r} is not a label of the model", record=index + 1)
    return example["ner_tags"], list(example["ner_tags"]), 0


def _overlaps(word: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    return any(max(word[0], start) < min(word[1], end) for start, end in ranges)


def encode_split(dataset: datasets.Dataset, tokenizer: XLNerTokenizer, label2id: dict[str, int], name: str) -> EncodedSplit:
    """Tokenize a split and attach one label per word; unknown labels are an error naming the record."""
    span_data = is_span_data(dataset)
    encoding = tokenizer(
        list(dataset["text"] if span_data else dataset["tokens"]), is_split_into_words=not span_data, return_offsets_mapping=True
    )
    labels, gold, unrepresentable = [], [], 0
    for index, example in enumerate(dataset):
        tags, example_gold, missed = _word_labels(example, encoding["offset_mapping"][index], label2id, name, index)
        labels.append([IGNORE_INDEX if tag is None else label2id[tag] for tag in tags])
        gold.append(example_gold)
        unrepresentable += missed
    features = datasets.Dataset.from_dict(
        {
            "input_ids": encoding["input_ids"],
            "char_ids": encoding["char_ids"],
            "shape_ids": encoding["shape_ids"],
            **{name: encoding[name] for name in ("surface_char_ids", "pos_ids", "vector_ids") if name in encoding},
            "labels": labels,
            "length": [len(ids) for ids in encoding["input_ids"]],
        }
    )
    return EncodedSplit(name, features, encoding["offset_mapping"], gold, span_data, unrepresentable)


def split_ceiling(split: EncodedSplit, dataset: datasets.Dataset) -> dict[str, float | int] | None:
    """Recall ceiling of span data under the tokenizer's segmentation (None for word data)."""
    if not split.span_data:
        return None
    return boundary_ceiling(split.offsets, list(dataset["entities"]))


class EpochMetric:
    """The Trainer's `compute_metrics` for one split: its logits decoded as the model decodes, then scored."""

    def __init__(self, split: EncodedSplit, model: XLNerForTokenClassification):
        self.split = split
        self.model = model  # its `decode` (a CRF head's transitions change as it trains)
        self.config = model.config
        self.metric = load_span_metric()

    def __call__(self, prediction: EvalPrediction) -> dict[str, float]:
        # Logits are padded across batches, so each row is cut to its word count.
        logits = torch.from_numpy(np.asarray(prediction.predictions, dtype=np.float32))
        lengths = torch.tensor([len(offsets) for offsets in self.split.offsets])
        mask = (torch.arange(logits.shape[1])[None, :] < lengths[:, None]).long()
        label_ids = self.model.decode(logits.to(self.model.device), mask.to(self.model.device))
        tags = [[self.config.id2label[int(i)] for i in ids] for ids in label_ids]
        if self.split.span_data:
            predictions = [
                [f"{s}:{e}:{t}" for s, e, t in word_tags_to_spans(offsets, example_tags)]
                for offsets, example_tags in zip(self.split.offsets, tags)
            ]
        else:
            predictions = tags
        scores = self.metric.compute(predictions=predictions, references=self.split.gold)
        return {key: scores[key] for key in HEADLINE}


def tagging_pipeline(model: XLNerForTokenClassification, tokenizer: XLNerTokenizer) -> XLNerTokenClassificationPipeline:
    """The token-classification pipeline over a model in memory (no remote code runs)."""
    return XLNerTokenClassificationPipeline(model=model.eval(), tokenizer=tokenizer, task="token-classification", device=model.device)


def predict_split(pipe: XLNerTokenClassificationPipeline, dataset: datasets.Dataset, batch_size: int = 128) -> list[list]:
    """Predictions in the metric's format: "start:end:type" spans of raw texts, or tags of word lists."""
    # One chunk: every text sorted by word count together, as training's batches are.
    options = {"batch_size": batch_size, "chunk_size": max(len(dataset), 1)}
    if is_span_data(dataset):
        entities = pipe(list(dataset["text"]), aggregation_strategy="simple", **options)
        return [[f"{e['start']}:{e['end']}:{e['entity_group']}" for e in found] for found in entities]
    sentences = list(dataset["tokens"])
    entities = pipe(sentences, is_split_into_words=True, aggregation_strategy="none", **options)
    tags = [["O"] * len(words) for words in sentences]
    for sentence_tags, found in zip(tags, entities):
        for entity in found:
            sentence_tags[entity["index"]] = entity["entity"]
    return tags


def gold_of(dataset: datasets.Dataset) -> list[list]:
    """The references in the metric's format: "start:end:type" spans, or the IOB2 tags."""
    if is_span_data(dataset):
        return [[f"{e['start']}:{e['end']}:{e['type']}" for e in entities] for entities in dataset["entities"]]
    return [list(tags) for tags in dataset["ner_tags"]]


def score_split(pipe: XLNerTokenClassificationPipeline, dataset: datasets.Dataset, batch_size: int = 128) -> dict[str, Any]:
    """Span-level P/R/F1 (micro, with per-type scores) of the pipeline's predictions on a split."""
    return load_span_metric().compute(predictions=predict_split(pipe, dataset, batch_size), references=gold_of(dataset))


def evaluate_model(
    model: XLNerForTokenClassification, tokenizer: XLNerTokenizer, source: str, batch_size: int = 128
) -> dict[str, Any]:
    """Span-level P/R/F1 of a model on a data file (`xlner evaluate`), with the boundary ceiling of span data."""
    dataset = load_data(source)
    split = encode_split(dataset, tokenizer, model.config.label2id, source)  # checks the labels, gives the offsets
    scores = score_split(tagging_pipeline(model, tokenizer), dataset, batch_size)
    ceiling = split_ceiling(split, dataset)
    if ceiling is not None:
        scores["boundary_ceiling"] = ceiling
    return scores


def headline(scores: dict[str, Any]) -> dict[str, Any]:
    return {key: scores[key] for key in HEADLINE}


__all__ = [
    "EncodedSplit", "encode_split", "split_ceiling", "EpochMetric", "tagging_pipeline", "predict_split",
    "gold_of", "score_split", "evaluate_model", "headline",
]  # fmt: skip
