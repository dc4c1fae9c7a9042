# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Code-switched English pretraining (training only): some English words read their katakana
transliteration's romaji as character input, so that the char module learns that "los angeles"
and its romaji carry the same evidence. Words are transliterated one by one (los → ロス → rosu,
angeles → アンジェルス → anjierusu), so a name reads "rosu anjierusu", not the whole name's
katakana ロサンゼルス (rosanzerusu).

Japanese Wikipedia text is full of transliterated foreign names, and the Japanese tokenizer feeds
romaji bigrams to the same char module. Only the character input changes: the word id and the
pretrained vector stay the English word's, so the word module keeps its evidence and the char
module has to match it from the romaji. Switches are drawn once per run (seeded), per word
occurrence, so one name is seen under both spellings.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import datasets

from tokenization.segmentation import JapaneseSegmenter, Word
from tokenization.tokenization_xlner import XLNerTokenizer

from .features import with_bigrams
from .word_space import load_transliterations


def romaji_spellings(words: Sequence[Sequence[str]], transliterations: Mapping[str, str]) -> dict[str, str]:
    """Lowercased training word → romaji of its katakana transliteration, for the words that have one."""
    segmenter = JapaneseSegmenter()
    spellings: dict[str, str] = {}
    for sentence in words:
        for word in sentence:
            key = word.lower()
            if key not in spellings and key in transliterations:
                spellings[key] = segmenter.romanize(transliterations[key])
    return spellings


def with_romaji_bigrams(tokenizer: XLNerTokenizer, spellings: Mapping[str, str]) -> XLNerTokenizer:
    """The same tokenizer with the romaji spellings' bigrams appended to its bigram vocabulary (ids kept)."""
    romaji = sorted(set(spellings.values()))
    return with_bigrams(tokenizer, (bigram for r in romaji for bigram in tokenizer._bigrams(Word(r, 0, len(r)))))


def code_switch_features(
    features: datasets.Dataset,
    words: Sequence[Sequence[str]],
    tokenizer: XLNerTokenizer,
    spellings: Mapping[str, str],
    rate: float,
    seed: int,
) -> tuple[datasets.Dataset, int]:
    """`features` with the char ids of a `rate` share of the transliterable word occurrences replaced by their
    romaji's, and how many were replaced. `words` are the sentences' words, aligned with `char_ids`."""
    rng = random.Random(seed)
    unk = tokenizer.bigram_to_id[str(tokenizer.unk_token)]
    romaji_ids = {key: [tokenizer.bigram_to_id.get(b, unk) for b in tokenizer._bigrams(Word(r, 0, len(r)))] for key, r in spellings.items()}
    switched = 0
    char_ids = []
    for sentence, sentence_ids in zip(words, features["char_ids"]):
        if len(sentence) != len(sentence_ids):
            raise ValueError("code switching: the words and the char ids of a sentence differ in length")
        row = list(sentence_ids)
        for index, word in enumerate(sentence):
            ids = romaji_ids.get(word.lower())
            if ids is not None and rng.random() < rate:
                row[index], switched = ids, switched + 1
        char_ids.append(row)
    switched_features = features.map(lambda _, index: {"char_ids": char_ids[index]}, with_indices=True, desc="code switching")
    return switched_features, switched


@dataclass
class CodeSwitch:
    """What `run_training` needs to switch the training split: each word's romaji spelling, the rate, the seed."""

    spellings: dict[str, str]
    rate: float
    seed: int

    def apply(self, features: datasets.Dataset, train: datasets.Dataset, tokenizer: XLNerTokenizer) -> tuple[datasets.Dataset, int]:
        return code_switch_features(features, sentence_words(train, tokenizer), tokenizer, self.spellings, self.rate, self.seed)


def sentence_words(train: datasets.Dataset, tokenizer: XLNerTokenizer) -> list[list[str]]:
    """Each sentence's words as the tokenizer sees them (the word lists of word data, the split of raw texts)."""
    if "tokens" in train.column_names:
        return [list(tokens) for tokens in train["tokens"]]
    return [[word.surface for word in tokenizer.split_words(text)] for text in train["text"]]


def prepare_code_switching(
    train: datasets.Dataset, tokenizer: XLNerTokenizer, transliterations: str, rate: float, seed: int
) -> tuple[XLNerTokenizer, CodeSwitch]:
    """The tokenizer extended with the romaji bigrams (unchanged if it has them), and the switch to apply."""
    spellings = romaji_spellings(sentence_words(train, tokenizer), load_transliterations(transliterations))
    return with_romaji_bigrams(tokenizer, spellings), CodeSwitch(spellings, rate, seed)


__all__ = ["CodeSwitch", "code_switch_features", "prepare_code_switching", "romaji_spellings", "sentence_words", "with_romaji_bigrams"]
