# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Span-level NER precision, recall and F1, from IOB2 tags or from character spans."""

# `evaluate.load` copies this file on its own into its module cache, so it must stay
# self-contained: no imports from the xlner package.

import re
from collections import Counter
from collections.abc import Mapping

import datasets
import evaluate
from seqeval.metrics.sequence_labeling import get_entities


_CITATION = """\
@misc{seqeval,
  title={{seqeval}: A Python framework for sequence labeling evaluation},
  url={https://github.com/chakki-works/seqeval},
  author={Hiroki Nakayama},
  year={2018},
}
"""

_DESCRIPTION = """\
Span-level micro precision, recall and F1 for named entity recognition, with per-type scores.

A predicted entity counts as correct only if its start, end and type all equal those of a
reference entity of the same example. Two input formats are accepted:

* IOB2 tags (``O``, ``B-X``, ``I-X``), one sequence per sentence, chunked exactly as seqeval's
  default mode does (an ``I-X`` after ``O`` or another type starts a new entity); the result
  equals ``seqeval.metrics`` micro scores.
* Character spans, one sequence per text, each span either a ``"start:end:type"`` string, a
  ``{"start", "end", "type"}`` dict (other keys such as ``name`` are ignored) or a
  ``(start, end, type)`` tuple; ``end`` is exclusive. Use this to score a tagger against the raw
  text: a gold entity whose boundary falls inside a predicted word is simply missed.

All inputs of one computation must use the same format. Duplicate entities within an example
count once, as in seqeval.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of sequences, one per example: IOB2 tags or spans (see description).
    references: list of sequences in the same format as `predictions`.
Returns:
    precision: micro precision over all entities (0.0 if nothing is predicted).
    recall: micro recall (0.0 if there is no reference entity).
    f1: micro F1 (0.0 if precision and recall are both 0).
    n_gold: number of reference entities.
    n_pred: number of predicted entities.
    n_correct: number of predicted entities that match a reference entity.
    per_type: {type: {"precision", "recall", "f1", "n_gold", "n_pred", "n_correct"}}.
Examples:
    >>> metric = evaluate.load("path/to/xlner_seqeval")
    >>> metric.compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])["f1"]
    1.0
    >>> metric.compute(predictions=[["0:2:PER", "5:9:LOC"]], references=[["0:2:PER"]])["precision"]
    0.5
"""

_TAG = re.compile(r"O|[BI]-.+")
_SPAN = re.compile(r"(\d+):(\d+):(.+)", re.DOTALL)


def _span_to_string(span, where):
    """Encodes a dict or tuple span as ``"start:end:type"``; strings pass through."""
    if isinstance(span, str):
        return span
    if isinstance(span, Mapping):
        try:
            start, end, entity_type = span["start"], span["end"], span["type"]
        except KeyError as error:
            raise ValueError(f"{where}: span {span!r} has no {error.args[0]!r}") from None
    elif isinstance(span, (tuple, list)) and len(span) == 3:
        start, end, entity_type = span
    else:
        raise ValueError(f"{where}: expected a tag, a span string, dict or tuple, got {span!r}")
    # bool is an int subclass; numpy integers are not ints, so check via __index__.
    if isinstance(start, bool) or isinstance(end, bool) or not (
        hasattr(start, "__index__") and hasattr(end, "__index__")
    ):
        raise ValueError(f"{where}: span start and end must be integers, got {span!r}")
    if not isinstance(entity_type, str) or not entity_type:
        raise ValueError(f"{where}: span type must be a non-empty string, got {span!r}")
    return f"{int(start)}:{int(end)}:{entity_type}"


def _normalise(sequences, name):
    """Rewrites dict and tuple spans as strings, so that one string feature fits every format.

    evaluate picks among several declared features from the first example only; with a separate
    dict feature an example without entities selects the string feature and later dicts are then
    silently cast to their repr. A single string feature avoids that.
    """
    if sequences is None:
        return None
    if isinstance(sequences, (str, Mapping)):
        raise ValueError(f"{name} must be a list of sequences, one per example, got {sequences!r}")
    normalised = []
    for i, sequence in enumerate(sequences):
        if isinstance(sequence, (str, Mapping)):
            raise ValueError(f"{name}[{i}] must be a sequence of tags or spans, got {sequence!r}")
        normalised.append([_span_to_string(item, f"{name}[{i}]") for item in sequence])
    return normalised


def _format_of(predictions, references):
    """Returns "tags" or "spans", checking that every string is one or the other."""
    seen = set()
    for name, sequences in (("predictions", predictions), ("references", references)):
        for i, sequence in enumerate(sequences):
            for item in sequence:
                if _TAG.fullmatch(item):
                    seen.add("tags")
                elif _SPAN.fullmatch(item):
                    seen.add("spans")
                else:
                    raise ValueError(
                        f"{name}[{i}]: {item!r} is neither an IOB2 tag (O, B-X, I-X) "
                        "nor a span 'start:end:type'"
                    )
                if len(seen) > 1:
                    raise ValueError(f"{name}[{i}]: inputs mix IOB2 tags and spans; use one format")
    # All sequences empty: no entity either way.
    return seen.pop() if seen else "spans"


def _entities_from_tags(sequences):
    entities = set()
    for example, tags in enumerate(sequences):
        for entity_type, first, last in get_entities(list(tags)):
            entities.add((example, first, last, entity_type))
    return entities


def _entities_from_spans(sequences, name):
    entities = set()
    for example, spans in enumerate(sequences):
        for span in spans:
            start, end, entity_type = _SPAN.fullmatch(span).groups()
            start, end = int(start), int(end)
            if start >= end:
                raise ValueError(f"{name}[{example}]: empty span {span!r} (start must be < end)")
            entities.add((example, start, end, entity_type))
    return entities


def _scores(n_correct, n_pred, n_gold):
    # Zero denominators give 0.0, as seqeval does with its default zero_division.
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_gold": n_gold,
        "n_pred": n_pred,
        "n_correct": n_correct,
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class XlnerSeqeval(evaluate.Metric):
    """Span-level NER scores from IOB2 tags or character spans."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
            codebase_urls=["https://github.com/chakki-works/seqeval"],
        )

    # `compute` forwards its inputs to `add_batch`, so normalising in `add_batch` and `add`
    # covers every entry point.
    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Adds a batch of examples (see the module description for the formats)."""
        super().add_batch(
            predictions=_normalise(predictions, "predictions"),
            references=_normalise(references, "references"),
            **kwargs,
        )

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Adds one example (see the module description for the formats)."""
        if prediction is not None:
            prediction = _normalise([prediction], "prediction")[0]
        if reference is not None:
            reference = _normalise([reference], "reference")[0]
        super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(self, predictions, references):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
        if _format_of(predictions, references) == "tags":
            for i, (predicted, gold) in enumerate(zip(predictions, references)):
                if len(predicted) != len(gold):
                    raise ValueError(
                        f"example {i}: {len(predicted)} predicted tags but {len(gold)} reference tags"
                    )
            pred_entities = _entities_from_tags(predictions)
            gold_entities = _entities_from_tags(references)
        else:
            pred_entities = _entities_from_spans(predictions, "predictions")
            gold_entities = _entities_from_spans(references, "references")

        correct = pred_entities & gold_entities
        n_pred = Counter(entity[-1] for entity in pred_entities)
        n_gold = Counter(entity[-1] for entity in gold_entities)
        n_correct = Counter(entity[-1] for entity in correct)
        result = _scores(len(correct), len(pred_entities), len(gold_entities))
        result["per_type"] = {
            entity_type: _scores(n_correct[entity_type], n_pred[entity_type], n_gold[entity_type])
            for entity_type in sorted(n_pred.keys() | n_gold.keys())
        }
        return result
