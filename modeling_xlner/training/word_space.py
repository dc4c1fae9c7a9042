# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""A shared word space across scripts (training only): a linear map from the target's pretrained vectors
(Japanese chiVe, 300-d) into the source's (English GloVe, 50-d), learnt from a seed dictionary.

The seed dictionary is built offline from what the vectors and a PyPI package hold:

* **identical strings**: Latin-script names, acronyms and numbers that are keys of both tables;
* **transliterations**: katakana loanwords paired with their English source word, from the
  ``alkana`` package (49,216 English → katakana pairs, names included: zurich → ツーリッヒ) or a
  TSV file of ``english<TAB>katakana`` lines.

chiVe (as shipped in ja-ginza) is pruned: several keys share a row, the first key of a row being the
word it was trained for. Only those first keys enter the dictionary, so a pair says "this row is
this English word", not "this row is this word's nearest kept neighbour".

The map M (target_dim × source_dim) is ridge least squares from target rows to source rows. Its
use (`transfer_xlner.copy_modules(word_space_map=...)`) composes it with the English word
projection: W_target = W_source · Mᵀ, so Japanese vectors reach the English model's word space and
`word`, `context` and `head` all fit. Quality is reported as precision@1 on held-out dictionary
pairs: a held-out Japanese row, mapped, must have one of its English words as nearest neighbour
(cosine) among the `candidates` most frequent English rows.
"""

from __future__ import annotations

import csv
import logging
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .vectors import WordVectors, _require, load_vectors

if TYPE_CHECKING:
    import numpy

logger = logging.getLogger(__name__)

ALKANA = "alkana"
TRANSFER_HINT = 'pip install "xlner[transfer]"'
# A Latin-script or numeric token worth pairing by its spelling: GloVe keys are lowercase.
_LATIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.&'\-]*$")
# Single letters and one-digit numbers are too ambiguous to anchor a map (a / ａ, 1 / 一).
_MIN_IDENTICAL_LENGTH = 2


def load_transliterations(source: str = ALKANA) -> dict[str, str]:
    """English word (lowercase) → katakana: from the alkana package, or a TSV file ``english<TAB>katakana``."""
    if source == ALKANA:
        try:
            from alkana.data import data
        except ImportError as error:
            raise ImportError(
                f"the seed dictionary's transliterations need the Python package 'alkana', which is not installed; "
                f"install it with: {TRANSFER_HINT} (or: pip install alkana), or pass a TSV file of english<TAB>katakana lines"
            ) from error
        return {english.lower(): katakana for english, katakana in data.items()}
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{source}: no such transliteration file (a TSV of english<TAB>katakana lines, or 'alkana')")
    pairs: dict[str, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2 or not all(cell.strip() for cell in row):
                raise ValueError(f"{source}, line {line_number}: expected 'english<TAB>katakana', got {row!r}")
            pairs.setdefault(row[0].strip().lower(), row[1].strip())
    return pairs


def _own_keys(vectors: WordVectors) -> dict[str, int]:
    """Each row's first key (the word the row was trained for; every key when no row is shared)."""
    own: dict[str, int] = {}
    seen: set[int] = set()
    for key, row in vectors.rows.items():
        if row not in seen:
            seen.add(row)
            own[key] = row
    return own


@dataclass
class SeedDictionary:
    """(target key, source key) pairs, and how many came from each origin."""

    pairs: list[tuple[str, str]]
    counts: dict[str, int]


def build_seed_dictionary(source: WordVectors, target: WordVectors, transliterations: dict[str, str]) -> SeedDictionary:
    """Pairs of words that are keys of both tables: identical Latin/numeric strings, then transliterations."""
    target_keys = _own_keys(target)
    pairs: dict[tuple[str, str], str] = {}
    for key in target_keys:
        if len(key) >= _MIN_IDENTICAL_LENGTH and _LATIN.match(key) and source.lookup(key) is not None:
            pairs.setdefault((key, key.lower()), "identical")
    for english, katakana in transliterations.items():
        if katakana in target_keys and source.lookup(english) is not None:
            pairs.setdefault((katakana, english), "transliteration")
    counts = {origin: sum(1 for value in pairs.values() if value == origin) for origin in ("identical", "transliteration")}
    return SeedDictionary(sorted(pairs), counts)


def split_pairs(pairs: list[tuple[str, str]], held_out: float, seed: int) -> tuple[list, list]:
    """(training pairs, held-out pairs), split by target word; a training pair whose source word is a held-out
    pair's is dropped too (ロンドン held out, ロンドン橋 → london would otherwise teach the map its answer)."""
    words = sorted({target for target, _ in pairs})
    random.Random(seed).shuffle(words)
    held = set(words[: round(held_out * len(words))])
    held_pairs = [p for p in pairs if p[0] in held]
    answers = {source for _, source in held_pairs}
    return [p for p in pairs if p[0] not in held and p[1] not in answers], held_pairs


def _matrices(source: WordVectors, target: WordVectors, pairs: list[tuple[str, str]]) -> tuple[numpy.ndarray, numpy.ndarray]:
    numpy = _require("numpy", "numpy", "the word-space map")
    target_rows = [target.lookup(t) for t, _ in pairs]
    source_rows = [source.lookup(s) for _, s in pairs]
    return target.matrix[target_rows].astype(numpy.float64), source.matrix[source_rows].astype(numpy.float64)


def learn_map(source: WordVectors, target: WordVectors, pairs: list[tuple[str, str]], ridge: float = 1.0) -> numpy.ndarray:
    """M minimising ‖X M − Y‖² + ridge ‖M‖² over the pairs (X: target rows, Y: source rows): target_dim × source_dim."""
    numpy = _require("numpy", "numpy", "the word-space map")
    if not pairs:
        raise ValueError("the seed dictionary is empty: the two vector tables share no words")
    x, y = _matrices(source, target, pairs)
    gram = x.T @ x + ridge * numpy.eye(x.shape[1])
    return numpy.linalg.solve(gram, x.T @ y).astype(numpy.float32)


def precision_at_1(
    matrix: numpy.ndarray, source: WordVectors, target: WordVectors, pairs: list[tuple[str, str]], candidates: int = 50_000
) -> float:
    """Share of held-out target words whose mapped vector's nearest source row (cosine, among the `candidates`
    most frequent rows and the gold rows) is the row of one of their source words."""
    numpy = _require("numpy", "numpy", "the word-space map")
    gold: dict[str, set[int]] = {}
    for target_key, source_key in pairs:
        gold.setdefault(target_key, set()).add(source.lookup(source_key))
    if not gold:
        return 0.0
    rows = sorted(set(range(min(candidates, source.num_rows))).union(*gold.values()))
    pool = source.matrix[rows].astype(numpy.float32)
    pool /= numpy.linalg.norm(pool, axis=1, keepdims=True) + 1e-8
    words = sorted(gold)
    mapped = target.matrix[[target.lookup(word) for word in words]] @ matrix
    mapped /= numpy.linalg.norm(mapped, axis=1, keepdims=True) + 1e-8
    nearest = [rows[i] for i in (mapped @ pool.T).argmax(axis=1)]
    return sum(row in gold[word] for word, row in zip(words, nearest)) / len(words)


@dataclass
class WordSpaceMap:
    """The learnt map (`matrix`: target_dim × source_dim) and the record of how it was made."""

    matrix: Any  # numpy.ndarray or torch.Tensor
    source_vectors: str
    target_vectors: str
    transliterations: str
    dictionary: dict[str, int] = field(default_factory=dict)  # pairs by origin, and train / held-out sizes
    precision_at_1: float | None = None
    ridge: float = 1.0
    # Every (target word, source word) pair of the seed dictionary: `translated_word_rows` starts each
    # target word of a pair from its source word's row.
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """Everything but the matrix and the pairs (for results.json and the log)."""
        record = {key: value for key, value in asdict(self).items() if key not in ("matrix", "pairs")}
        record["shape"] = list(self.matrix.shape)
        return record

    def save(self, path: str | Path) -> None:
        """One torch file: the matrix, the pairs and the record (read back by `load` and by the remote transfer code)."""
        matrix = torch.as_tensor(self.matrix, dtype=torch.float32)
        torch.save({"target_to_source": matrix, **self.record(), "pairs": [list(pair) for pair in self.pairs]}, str(path))

    @classmethod
    def load(cls, path: str | Path) -> WordSpaceMap:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such word-space map (make one with `xlner word-space`)")
        saved = torch.load(str(path), weights_only=True)
        if "target_to_source" not in saved:
            raise ValueError(f"{path}: not a word-space map (no 'target_to_source' matrix)")
        fields = {key: saved[key] for key in ("source_vectors", "target_vectors", "transliterations", "dictionary", "precision_at_1", "ridge") if key in saved}
        return cls(matrix=saved["target_to_source"], **fields, pairs=[tuple(pair) for pair in saved.get("pairs", [])])


def build_word_space_map(
    source_vectors: str = "glove-6b-50d",
    target_vectors: str = "chive",
    transliterations: str = ALKANA,
    held_out: float = 0.1,
    ridge: float = 1.0,
    seed: int = 1,
) -> WordSpaceMap:
    """Seed dictionary, held-out split, map learnt on the training pairs, precision@1 on the held-out ones,
    then the map refitted on every pair (the one saved)."""
    source, target = load_vectors(source_vectors), load_vectors(target_vectors)
    dictionary = build_seed_dictionary(source, target, load_transliterations(transliterations))
    train_pairs, held_pairs = split_pairs(dictionary.pairs, held_out, seed)
    precision = precision_at_1(learn_map(source, target, train_pairs, ridge), source, target, held_pairs) if held_pairs else None
    sizes = {
        **dictionary.counts, "pairs": len(dictionary.pairs), "held_out_words": len({t for t, _ in held_pairs}),
        "precision_training_pairs": len(train_pairs),
    }  # fmt: skip
    logger.info("Seed dictionary %s; precision@1 on held-out words: %s", sizes, precision)
    matrix = learn_map(source, target, dictionary.pairs, ridge)
    return WordSpaceMap(matrix, source_vectors, target_vectors, transliterations, sizes, precision, ridge, dictionary.pairs)


__all__ = [
    "SeedDictionary", "WordSpaceMap", "build_seed_dictionary", "build_word_space_map", "learn_map",
    "load_transliterations", "precision_at_1", "split_pairs",
]  # fmt: skip
