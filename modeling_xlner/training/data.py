# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Loading NER data and moving between character spans and word-level BIO tags.

Two on-disk formats are supported:

* CoNLL: one ``TOKEN ... TAG`` line per word, blank lines between sentences, ``-DOCSTART-``
  lines between documents. Tags are IOB2 strings (``O``, ``B-X``, ``I-X``), or IOB1, BIOES or BILOU
  tags, which are converted to IOB2 (see tag_schemes.py).
* Span JSON: raw text with character spans (the Stockmark Wikipedia NER layout),
  ``{"text": ..., "entities": [{"name": ..., "span": [start, end], "type": ...}]}``, either one
  object per line (JSONL) or a single JSON array. A training record may also hold
  ``"unlabeled": [[start, end], ...]``: character ranges whose words outside every entity have no
  known label (self-training's disputed words); the loss sums over every label there.

This module deliberately imports neither torch nor the tokenizer: it is used by training and
evaluation code, never by the remote-code model files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from ..decoding_xlner import bio_labels, entity_chunks, entity_types, is_bio_label
from .tag_schemes import TagSchemeError, detect_scheme, is_scheme_tag, to_iob2


logger = logging.getLogger(__name__)

CONLL_EXTENSIONS = (".txt", ".conll")
SPAN_JSON_EXTENSIONS = (".json", ".jsonl")

# Column schemas of the datasets returned by `load_split`. Spelled out rather than inferred so
# that a split whose rows happen to have no entities still gets the right column types.
# `Sequence(...)` and `[{...}]` are the spellings datasets 3.x and 4+ (where both mean `List`)
# understand alike.
CONLL_FEATURES = datasets.Features(
    {
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.Value("string")),
    }
)
SPAN_FEATURES = datasets.Features(
    {
        "text": datasets.Value("string"),
        "entities": [
            {
                "start": datasets.Value("int32"),
                "end": datasets.Value("int32"),
                "type": datasets.Value("string"),
            }
        ],
    }
)
# Span data with partial labels: the ranges of each text whose words outside the entities are unlabelled.
PARTIAL_SPAN_FEATURES = datasets.Features(
    {**SPAN_FEATURES, "unlabeled": [{"start": datasets.Value("int32"), "end": datasets.Value("int32")}]}
)

_DOCSTART = "-DOCSTART-"
HUB_PREFIX = "hub:"


class DataFormatError(ValueError):
    """A data file is malformed. The message names the file, the location and the problem."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, record: int | None = None
    ) -> None:
        location = str(path)
        if line is not None:
            location += f", line {line}"
        if record is not None:
            location += f", record {record}"
        super().__init__(f"{location}: {message}")
        self.path = str(path)
        self.line = line
        self.record = record


@dataclass
class ReadStats:
    """What `read_span_json` kept and dropped, so that nothing is discarded silently, and how `read_conll` read tags.

    Attributes:
        n_records: texts read.
        n_entities: entities kept.
        dropped_overlapping: ``(record, start, end, type)`` of each entity dropped because it
            overlaps an earlier entity of the same text (``record`` is 1-based).
    """

    n_records: int = 0
    n_entities: int = 0
    dropped_overlapping: list[tuple[int, int, int, str]] = field(default_factory=list)
    tag_scheme: str | None = None  # word data: the file's scheme (see tag_schemes.py), converted to IOB2

    @property
    def n_dropped_overlapping(self) -> int:
        return len(self.dropped_overlapping)


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yields ``(1-based line number, text without line ending)``, decoding line by line.

    Splitting bytes (not str) keeps U+2028 and friends inside a line: they are legal inside JSON
    strings and may occur in Wikipedia text, but ``str.splitlines`` would break on them. Decoding
    per line lets an encoding error name its line.
    """
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, line in enumerate(raw.splitlines(), start=1):  # handles \n, \r\n and \r
        try:
            yield number, line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataFormatError(path, f"not valid UTF-8 ({error.reason})", line=number) from None


def read_conll(path: str | Path, stats: ReadStats | None = None) -> list[dict[str, list[str]]]:
    """Reads a CoNLL file into ``[{"tokens": [...], "ner_tags": [...]}, ...]``.

    Columns are separated by whitespace (spaces or tabs); the first is the token and the last the
    tag (IOB2, IOB1, BIOES or BILOU, detected for the whole file and converted to IOB2; the scheme
    goes into ``stats.tag_scheme``), so both two-column and four-column (CoNLL-2003 original) files work, but every line
    of a file must have the same number of columns (a token with a space in it, or a truncated
    line, would otherwise lose a column silently). ``-DOCSTART-`` lines are skipped and blank
    lines end sentences.

    Raises:
        DataFormatError: a line with fewer than two columns or with another number of columns
            than the file's first token line, a tag of no scheme, a file that mixes schemes (the
            line where the second one shows), or a file with no sentence at all.
    """
    path = Path(path)
    sentences: list[dict[str, list[str]]] = []
    tag_lines: list[list[int]] = []
    tokens: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    first_token_line: tuple[int, int] | None = None  # (line number, number of columns)
    for number, line in _numbered_lines(path):
        columns = line.split()
        if not columns:
            if tokens:
                sentences.append({"tokens": tokens, "ner_tags": tags})
                tag_lines.append(numbers)
                tokens, tags, numbers = [], [], []
            continue
        if columns[0] == _DOCSTART:
            continue
        if len(columns) < 2:
            raise DataFormatError(
                path, f"expected 'TOKEN ... TAG' but found one column {columns[0]!r}", line=number
            )
        if first_token_line is None:
            first_token_line = (number, len(columns))
        elif len(columns) != first_token_line[1]:
            raise DataFormatError(
                path,
                f"{len(columns)} columns {columns!r}, but line {first_token_line[0]} has {first_token_line[1]}",
                line=number,
            )
        if not is_scheme_tag(columns[-1]):
            raise DataFormatError(
                path, f"tag {columns[-1]!r} is not a tag (O, or B-, I-, E-, S-, L-, U- and a type)", line=number
            )
        tokens.append(columns[0])
        tags.append(columns[-1])
        numbers.append(number)
    if tokens:  # the last sentence need not be followed by a blank line
        sentences.append({"tokens": tokens, "ner_tags": tags})
        tag_lines.append(numbers)
    if not sentences:
        raise DataFormatError(path, "no sentences found (empty CoNLL file)")
    return _as_iob2(path, sentences, tag_lines, stats)


def _as_iob2(path: Path, sentences: list[dict], tag_lines: list[list[int]], stats: ReadStats | None) -> list[dict]:
    """The sentences with their tags converted to IOB2 from the file's scheme (logged, and kept in `stats`)."""
    try:
        scheme = detect_scheme([s["ner_tags"] for s in sentences], tag_lines)
    except TagSchemeError as error:
        raise DataFormatError(path, str(error), line=error.line) from None
    if scheme != "IOB2":
        logger.warning("%s: read as %s, converted to IOB2", path, scheme)
        sentences = [{"tokens": s["tokens"], "ner_tags": to_iob2(s["ner_tags"], scheme)} for s in sentences]
    if stats is not None:
        stats.tag_scheme = scheme
    return sentences


def _json_records(path: Path) -> Iterator[tuple[dict[str, int], Any]]:
    """Yields ``(location, object)`` for a JSONL file or a JSON array file.

    ``location`` holds the keyword arguments of `DataFormatError`: the line for JSONL, the 1-based
    position in the array for a JSON array (whose records may span several lines).
    """
    lines = list(_numbered_lines(path))
    first = next((text.lstrip() for _, text in lines if text.strip()), "")
    if first.startswith("["):
        try:
            records = json.loads("\n".join(text for _, text in lines))
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"invalid JSON: {error.msg}", line=error.lineno) from None
        for index, record in enumerate(records, start=1):
            yield {"record": index}, record
        return
    for number, text in lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, f"invalid JSON: {error.msg}", line=number) from None
        yield {"line": number}, record


def read_texts(path: str | Path) -> list[str]:
    """The texts of a file, labels unread: a .txt file's lines, or the ``text`` of each record of a span JSON(L) file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataFormatError: invalid JSON, or a record without a string ``text`` (naming its line or record).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    if path.suffix.lower() == ".txt":
        return [text for _, text in _numbered_lines(path)]
    texts = []
    for location, record in _json_records(path):
        if not isinstance(record, Mapping) or not isinstance(record.get("text"), str):
            raise DataFormatError(path, "expected an object with a string 'text'", **location)
        texts.append(record["text"])
    return texts


def _check_entity(
    path: Path, location: Mapping[str, int], text: str, entity: Any, position: int
) -> dict[str, Any]:
    """Validates one raw entity and returns it as ``{"start", "end", "type", "name"}``."""

    def fail(message: str) -> DataFormatError:
        return DataFormatError(path, f"entity {position}: {message}", **location)

    if not isinstance(entity, Mapping):
        raise fail(f"expected an object, got {entity!r}")
    span = entity.get("span")
    # bool is a subclass of int, but [true, false] is certainly not a span.
    if not (
        isinstance(span, (list, tuple))
        and len(span) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
    ):
        raise fail(f"'span' must be a pair of integers [start, end], got {span!r}")
    start, end = span
    if not 0 <= start < end <= len(text):
        raise fail(f"span [{start}, {end}) is empty or outside the text (length {len(text)})")
    entity_type = entity.get("type")
    if not isinstance(entity_type, str) or not entity_type:
        raise fail(f"missing or empty 'type' (got {entity_type!r})")
    name = entity.get("name")
    if name is not None and name != text[start:end]:
        raise fail(f"'name' is {name!r} but text[{start}:{end}] is {text[start:end]!r}")
    return {"start": start, "end": end, "type": entity_type, "name": text[start:end]}


def _unlabeled_ranges(path: Path, location: Mapping[str, int], text: str, record: Mapping) -> list[tuple[int, int]]:
    """A record's optional ``unlabeled`` ranges, checked as entity spans are."""
    ranges = record.get("unlabeled", [])
    if not isinstance(ranges, list):
        raise DataFormatError(path, f"'unlabeled' must be a list of [start, end] pairs, got {ranges!r}", **location)
    for position, pair in enumerate(ranges, start=1):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in pair)):
            raise DataFormatError(path, f"unlabeled range {position}: expected [start, end], got {pair!r}", **location)
        if not 0 <= pair[0] < pair[1] <= len(text):
            raise DataFormatError(path, f"unlabeled range {position}: [{pair[0]}, {pair[1]}) is empty or outside the text (length {len(text)})", **location)
    return [tuple(pair) for pair in ranges]


def read_span_json(path: str | Path, stats: ReadStats | None = None) -> list[dict[str, Any]]:
    """Reads a span-format file (JSONL or JSON array) into ``[{"text", "entities"}, ...]`` (and ``"unlabeled"``
    ranges where a record has some).

    Each entity becomes ``{"start", "end", "type", "name"}`` (``end`` exclusive, ``name`` always
    ``text[start:end]``). An entity overlapping an earlier one of the same text is dropped, since a
    BIO sequence cannot represent both; drops are logged and, if ``stats`` is given, recorded in
    it. Empty or whitespace-only texts are allowed.

    Args:
        path: the file.
        stats: filled in with counts and the dropped entities (an out-parameter so that the return
            type stays a plain list).

    Raises:
        DataFormatError: invalid JSON, a record without ``text`` or ``entities``, an entity whose
            span is not a valid ``[start, end)`` inside the text, whose ``name`` differs from the
            text it spans, or without ``type``; or a file without records.
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    examples: list[dict[str, Any]] = []
    for record_number, (location, record) in enumerate(_json_records(path), start=1):
        if not isinstance(record, Mapping):
            raise DataFormatError(path, f"expected a JSON object, got {type(record).__name__}", **location)
        text = record.get("text")
        if not isinstance(text, str):
            raise DataFormatError(path, f"missing or non-string 'text' (got {text!r})", **location)
        raw_entities = record.get("entities")
        if not isinstance(raw_entities, list):
            raise DataFormatError(
                path, f"missing 'entities' list (use [] for none), got {raw_entities!r}", **location
            )
        kept: list[dict[str, Any]] = []
        for position, raw_entity in enumerate(raw_entities, start=1):
            entity = _check_entity(path, location, text, raw_entity, position)
            if any(entity["start"] < other["end"] and other["start"] < entity["end"] for other in kept):
                stats.dropped_overlapping.append(
                    (record_number, entity["start"], entity["end"], entity["type"])
                )
                logger.warning(
                    "%s: record %d: dropped entity %r [%d, %d) %s, it overlaps an earlier entity",
                    path, record_number, entity["name"], entity["start"], entity["end"], entity["type"],
                )
                continue
            kept.append(entity)
        unlabeled = _unlabeled_ranges(path, location, text, record)
        examples.append({"text": text, "entities": kept, **({"unlabeled": unlabeled} if unlabeled else {})})
        stats.n_entities += len(kept)
    if not examples:
        raise DataFormatError(path, "no records found (empty file)")
    stats.n_records = len(examples)
    return examples


def load_split(path: str | Path, stats: ReadStats | None = None) -> datasets.Dataset:
    """Loads a local split, choosing the reader from the file extension.

    ``.txt`` / ``.conll`` give columns ``tokens`` and ``ner_tags`` (strings); ``.json`` /
    ``.jsonl`` give columns ``text`` and ``entities`` (a list of ``{"start", "end", "type"}``).

    Args:
        path: the file.
        stats: filled in as by `read_span_json` (span files) or `read_conll` (the tag scheme).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the extension is not one of the above.
        DataFormatError: the file is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix in CONLL_EXTENSIONS:
        return datasets.Dataset.from_list(read_conll(path, stats), features=CONLL_FEATURES)
    if suffix in SPAN_JSON_EXTENSIONS:
        examples = read_span_json(path, stats)
        partial = any("unlabeled" in example for example in examples)
        rows = [
            {
                "text": example["text"],
                "entities": [{key: e[key] for key in ("start", "end", "type")} for e in example["entities"]],
                **({"unlabeled": [{"start": start, "end": end} for start, end in example.get("unlabeled", [])]} if partial else {}),
            }
            for example in examples
        ]
        return datasets.Dataset.from_list(rows, features=PARTIAL_SPAN_FEATURES if partial else SPAN_FEATURES)
    known = ", ".join(CONLL_EXTENSIONS + SPAN_JSON_EXTENSIONS)
    raise ValueError(f"{path}: unknown data file extension {path.suffix!r}; expected one of {known}")


def ner_tags_to_strings(dataset: datasets.Dataset) -> datasets.Dataset:
    """Returns ``dataset`` with its ``ner_tags`` column as IOB2 strings.

    Hub datasets usually store tags as ``ClassLabel`` integers; their names are the tag strings.
    A column that already holds strings is returned unchanged.

    Raises:
        ValueError: the column is neither strings nor ``ClassLabel`` integers, or the label names
            are not IOB2 tags.
    """
    feature = dataset.features["ner_tags"]
    inner = getattr(feature, "feature", None)  # List / LargeList / legacy Sequence
    if isinstance(inner, datasets.Value) and inner.dtype in ("string", "large_string"):
        return dataset
    if not isinstance(inner, datasets.ClassLabel):
        raise ValueError(
            f"'ner_tags' must be a list of strings or of ClassLabel integers, got {feature}; "
            "integer tags without label names cannot be interpreted"
        )
    names = list(inner.names)
    bad = [name for name in names if not is_bio_label(name)]
    if bad:
        raise ValueError(f"'ner_tags' label names are not IOB2 tags: {bad}")
    features = dataset.features.copy()
    features["ner_tags"] = datasets.Sequence(datasets.Value("string"))
    return dataset.map(
        lambda batch: {"ner_tags": [[names[i] for i in tags] for tags in batch["ner_tags"]]},
        batched=True,
        features=features,
        desc="ClassLabel tags to strings",
    )


def load_hub_split(dataset_id: str, split: str, config_name: str | None = None) -> datasets.Dataset:
    """Loads a split of a Hub token-classification dataset as columns ``tokens`` and ``ner_tags``.

    Integer ``ClassLabel`` tags are converted to their string names; other columns (POS tags,
    ids, ...) are dropped so that the result looks like a local CoNLL split.
    """
    dataset = datasets.load_dataset(dataset_id, config_name, split=split)
    missing = {"tokens", "ner_tags"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"{dataset_id} ({split}) has no column(s) {sorted(missing)}; found {dataset.column_names}"
        )
    return ner_tags_to_strings(dataset.select_columns(["tokens", "ner_tags"]))


def load_data(source: str, stats: ReadStats | None = None) -> datasets.Dataset:
    """A local CoNLL / span-JSON file, or ``hub:DATASET_ID[@CONFIG]:SPLIT`` for a Hub dataset."""
    if source.startswith(HUB_PREFIX):
        dataset_id, _, split = source[len(HUB_PREFIX) :].rpartition(":")
        dataset_id, _, config_name = dataset_id.partition("@")
        if not dataset_id or not split:
            raise ValueError(f"{source}: expected hub:DATASET_ID[@CONFIG]:SPLIT")
        return load_hub_split(dataset_id, split, config_name or None)
    return load_split(source, stats)


def is_span_data(dataset: datasets.Dataset) -> bool:
    """Whether a split holds raw texts with character spans (else words with IOB2 tags)."""
    return "text" in dataset.column_names


def label_list(dataset: datasets.Dataset) -> list[str]:
    """The BIO label set of a training split: "O" first, then B-/I- of each type, sorted by type."""
    if is_span_data(dataset):
        return bio_labels(entity["type"] for entities in dataset["entities"] for entity in entities)
    return bio_labels(entity_types(tag for tags in dataset["ner_tags"] for tag in tags))


def blank_texts(dataset: datasets.Dataset) -> int:
    """Examples without a word: empty or whitespace-only texts (span data; a CoNLL sentence has words)."""
    return sum(not text.strip() for text in dataset["text"]) if is_span_data(dataset) else 0


def duplicate_sentences(dataset: datasets.Dataset) -> tuple[int, int]:
    """(examples whose words, or text, repeat an earlier example's; those of them annotated otherwise than it).

    Blank texts are not counted (see `blank_texts`).
    """
    if is_span_data(dataset):
        keys = [text if text.strip() else None for text in dataset["text"]]
        annotations = [tuple((e["start"], e["end"], e["type"]) for e in entities) for entities in dataset["entities"]]
    else:
        keys = [tuple(tokens) for tokens in dataset["tokens"]]
        annotations = [tuple(tags) for tags in dataset["ner_tags"]]
    first: dict[Any, tuple] = {}
    duplicates = conflicting = 0
    for key, annotation in zip(keys, annotations):
        if key is None:
            continue
        if key in first:
            duplicates += 1
            conflicting += first[key] != annotation
        else:
            first[key] = annotation
    return duplicates, conflicting


# --- span <-> BIO projection ----------------------------------------------------------------


def spans_to_word_tags(
    word_offsets: Sequence[tuple[int, int]], entities: Sequence[Mapping[str, Any]]
) -> tuple[list[str], int]:
    """Projects character-span entities onto words as IOB2 tags.

    A word belongs to an entity if their character ranges overlap, so an entity whose boundary
    falls inside a word is still learned, widened to whole words. Words already taken by an
    earlier entity stay with it.

    Args:
        word_offsets: ``(start, end)`` character offsets of each word, end exclusive.
        entities: dicts with ``start``, ``end`` (exclusive) and ``type``.

    Returns:
        The tags, and the number of entities the tags cannot reproduce exactly: no word overlaps
        them, a boundary is not a word boundary, or an earlier entity took some of their words.
    """
    tags = ["O"] * len(word_offsets)
    owner: list[int | None] = [None] * len(word_offsets)
    n_unrepresentable = 0
    for index, entity in enumerate(entities):
        start, end, entity_type = entity["start"], entity["end"], entity["type"]
        # max(start) < min(end): zero-width words never overlap anything.
        overlapping = [
            i for i, (w_start, w_end) in enumerate(word_offsets) if max(w_start, start) < min(w_end, end)
        ]
        free = [i for i in overlapping if owner[i] is None]
        exact = (
            bool(overlapping)
            and len(free) == len(overlapping)
            and word_offsets[overlapping[0]][0] == start
            and word_offsets[overlapping[-1]][1] == end
        )
        if not exact:
            n_unrepresentable += 1
        for i in free:
            # A piece cut off from the previous one by a word of another entity starts a new chunk.
            continues = i > 0 and owner[i - 1] == index
            tags[i] = f"{'I' if continues else 'B'}-{entity_type}"
            owner[i] = index
    return tags, n_unrepresentable


def word_tags_to_spans(
    word_offsets: Sequence[tuple[int, int]], tags: Sequence[str]
) -> list[tuple[int, int, str]]:
    """Turns word-level IOB2 tags into ``(start, end, type)`` character spans.

    Chunks are seqeval's (default, non-strict mode): an ``I-X`` after ``O`` or after another type
    starts a new entity. A span runs from the start of its first word to the end of its last.

    Raises:
        ValueError: lengths differ or a tag is not IOB2.
    """
    if len(word_offsets) != len(tags):
        raise ValueError(f"{len(word_offsets)} word offsets but {len(tags)} tags")
    bad = [tag for tag in tags if not is_bio_label(tag)]
    if bad:
        raise ValueError(f"not IOB2 tags: {sorted(set(bad))}")
    return [
        (word_offsets[first][0], word_offsets[last][1], entity_type)
        for entity_type, first, last in entity_chunks(list(tags))
    ]


def boundary_ceiling(
    word_offsets_per_text: Sequence[Sequence[tuple[int, int]]],
    entities_per_text: Sequence[Sequence[Mapping[str, Any]]],
) -> dict[str, float | int]:
    """The best span-level recall a word-level tagger can reach with this segmentation.

    Returns:
        ``n_gold`` entities, ``n_representable`` (reproduced exactly by `spans_to_word_tags`) and
        ``recall_ceiling`` = their ratio (1.0 when there are no gold entities: none can be missed).
    """
    if len(word_offsets_per_text) != len(entities_per_text):
        raise ValueError(
            f"{len(word_offsets_per_text)} segmented texts but {len(entities_per_text)} entity lists"
        )
    n_gold = n_unrepresentable = 0
    for word_offsets, entities in zip(word_offsets_per_text, entities_per_text):
        n_gold += len(entities)
        n_unrepresentable += spans_to_word_tags(word_offsets, entities)[1]
    n_representable = n_gold - n_unrepresentable
    return {
        "n_gold": n_gold,
        "n_representable": n_representable,
        "recall_ceiling": n_representable / n_gold if n_gold else 1.0,
    }
