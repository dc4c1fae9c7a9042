# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Translate-train (training only): English NER data translated into Japanese word by word, written as a
Japanese span-JSON corpus, so that a Japanese model can pretrain on it before the real Japanese data
(cheap lexicon translation, as in Mayhew et al. 2017 and Xie et al. 2018).

Each English word becomes one Japanese word (punctuation and numbers stay as they are):
- an entity word: its katakana transliteration where the dictionary has one (london → ロンドン), else
  itself when it holds a digit or a capital (a Latin-script name, an acronym), else its nearest
  Japanese word;
- any other word: its nearest Japanese word written with kanji or hiragana, i.e. the chiVe word whose
  vector, through the word-space map (chiVe → GloVe), is closest to the English word's GloVe vector;
  itself when it has no GloVe vector. (The map is learnt mostly on katakana loanwords, so without
  that condition "will" would become ウイル, not a word of meaning.)
Word order stays English. The labels are the English ones (PER, LOC, ORG, MISC), as character spans
of the Japanese text; the transfer to the real data maps them to its types like any English source's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy

from .vectors import WordVectors

# Two Latin-script (or digit) words written side by side need a space, or the segmenter would join them.
_LATIN_EDGE = re.compile(r"[0-9A-Za-z]")


def is_native(word: str) -> bool:
    """Whether a Japanese word holds kanji or hiragana (not only katakana, Latin letters, digits or signs)."""
    return any("\u3040" <= character <= "\u309f" or "\u4e00" <= character <= "\u9fff" for character in word)


def nearest_target_words(
    english: Iterable[str],
    source: WordVectors,
    target: WordVectors,
    target_to_source: numpy.ndarray,
    keep=None,
    batch: int = 2048,
) -> dict[str, str]:
    """Lowercased English word → the target key whose mapped vector has the highest cosine with the word's vector.

    Candidates are the first key of each target row (the word the row was trained for), those that
    `keep(key)` accepts when given; English words without a source vector are left out.
    """
    first_key: dict[int, str] = {}
    for key, row in target.rows.items():
        if keep is None or keep(key):
            first_key.setdefault(row, key)
    rows = sorted(first_key)
    mapped = target.matrix[rows].astype(numpy.float32) @ numpy.asarray(target_to_source, dtype=numpy.float32)
    mapped /= numpy.linalg.norm(mapped, axis=1, keepdims=True).clip(min=1e-8)
    words = sorted({word.lower() for word in english if source.lookup(word.lower()) is not None})
    nearest: dict[str, str] = {}
    for start in range(0, len(words), batch):
        chunk = words[start : start + batch]
        vectors = source.matrix[[source.lookup(word) for word in chunk]].astype(numpy.float32)
        vectors /= numpy.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-8)
        best = (vectors @ mapped.T).argmax(axis=1)
        nearest.update((word, first_key[rows[index]]) for word, index in zip(chunk, best.tolist()))
    return nearest


def translate_word(
    word: str, is_entity: bool, nearest: Mapping[str, str], nearest_native: Mapping[str, str], transliterations: Mapping[str, str]
) -> str:
    """One English word's Japanese word (the rules of the module docstring)."""
    key = word.lower()
    if not any(character.isalpha() for character in word):  # punctuation and numbers read the same in Japanese text
        return word
    if not is_entity:
        return nearest_native.get(key, word)
    if key in transliterations:
        return transliterations[key]
    if any(character.isdigit() or character.isupper() for character in word):
        return word
    return nearest.get(key, word)


def translate_sentence(tokens: Sequence[str], tags: Sequence[str], translate) -> dict:
    """A span-JSON record (text, entities) of one IOB2-tagged English sentence; `translate(word, is_entity)`."""
    text, starts, ends = "", [], []
    for token, tag in zip(tokens, tags):
        japanese = translate(token, tag != "O")
        if text and _LATIN_EDGE.match(japanese[:1]) and _LATIN_EDGE.match(text[-1]):
            text += " "
        starts.append(len(text))
        text += japanese
        ends.append(len(text))
    entities = []
    for first, last, entity_type in _entity_runs(tags):
        span = [starts[first], ends[last]]
        entities.append({"name": text[span[0] : span[1]], "span": span, "type": entity_type})
    return {"text": text, "entities": entities}


def _entity_runs(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last, type) of each IOB2 entity (an I- after another type starts one, as seqeval reads it)."""
    runs: list[list] = []
    for index, tag in enumerate(tags):
        prefix, _, entity_type = tag.partition("-")
        if prefix == "B" or (prefix == "I" and (not runs or runs[-1][1] != index - 1 or runs[-1][2] != entity_type)):
            runs.append([index, index, entity_type])
        elif prefix == "I":
            runs[-1][1] = index
    return [tuple(run) for run in runs]


def translate_corpus(
    sentences: Sequence[Mapping[str, Sequence[str]]],
    nearest: Mapping[str, str],
    nearest_native: Mapping[str, str],
    transliterations: Mapping[str, str],
) -> list[dict]:
    """Span-JSON records of `sentences` (`read_conll`'s dicts: tokens, ner_tags as IOB2 strings)."""

    def translate(word: str, is_entity: bool) -> str:
        return translate_word(word, is_entity, nearest, nearest_native, transliterations)

    return [translate_sentence(s["tokens"], s["ner_tags"], translate) for s in sentences]


def write_span_jsonl(records: Iterable[dict], path: str | Path) -> int:
    """Write records as span JSON lines (with a `curid`, as Stockmark's); returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for count, record in enumerate(records, start=1):
            handle.write(json.dumps({"curid": str(count), **record}, ensure_ascii=False) + "\n")
    return count


__all__ = ["nearest_target_words", "translate_corpus", "translate_sentence", "translate_word", "write_span_jsonl"]
