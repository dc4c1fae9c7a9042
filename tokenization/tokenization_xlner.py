"""Tokenizer for XLNer: raw text → words, word ids, character-bigram ids, shapes and offsets.

One "token" is one word. For each word the tokenizer gives:

- `input_ids`: its id in the word vocabulary (lowercased, digits → 0; Japanese: the surface form),
- `char_ids`: the ids of its lowercased character bigrams, between word-boundary markers
  (Japanese: bigrams of the word's romaji, so they share a vocabulary with English letters),
- `shape_ids`: its word-shape class (capitalisation, digits, punctuation, Japanese script),
- `surface_char_ids` (Japanese, `char_input="romaji+surface"`): bigrams of its Japanese characters too,
  a second channel (kanji such as 社, 党, 駅 carry the entity type, which romaji loses),
- `pos_ids` (Japanese models with a part-of-speech vocabulary): the id of UniDic's part of speech,
- `vector_ids` (models with pretrained vectors): the row of its pretrained vector, 0 if it has none,
- `offset_mapping`: its [start, end) in the ORIGINAL input string, whatever normalisation did.
"""

import array
import itertools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from transformers import BatchEncoding, PreTrainedTokenizer
from transformers.utils import PaddingStrategy

from .segmentation import JapaneseSegmenter, Word, split_english, split_long_text

VOCAB_FILES_NAMES = {
    "word_vocab_file": "word_vocab.json",
    "bigram_vocab_file": "bigram_vocab.json",
    "surface_bigram_vocab_file": "surface_bigram_vocab.json",  # optional: char_input "romaji+surface"
    "pos_vocab_file": "pos_vocab.json",  # optional: Japanese models with a part-of-speech embedding
    "vector_vocab_file": "vector_vocab.json",  # optional: models with pretrained word vectors
}

# Word-boundary markers around a word's characters before it is cut into bigrams.
WORD_START = "\u2402"
WORD_END = "\u2403"

# Word-shape classes; id 0 is padding. English NER leans on capitalisation, Japanese on script.
WORD_SHAPES = (
    "<pad>", "lower", "title", "upper", "mixed-case", "number", "has-digit", "punctuation",
    "hiragana", "katakana", "kanji", "mixed-japanese", "other",
)  # fmt: skip
_SHAPE_ID = {name: index for index, name in enumerate(WORD_SHAPES)}


def _script(character: str) -> str:
    code = ord(character)
    if 0x3040 <= code <= 0x309F:
        return "hiragana"
    if 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
        return "katakana"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or character in "々〆ヶ":
        return "kanji"
    return "other"


def word_shape(surface: str) -> int:
    """The word-shape class id (see `WORD_SHAPES`) of a normalised word."""
    if any(c.isdigit() for c in surface):
        return _SHAPE_ID["number" if all(c.isdigit() or c in ".,-/:" for c in surface) else "has-digit"]
    if surface.isalpha() and surface.isascii() or any(c.isupper() for c in surface):
        if surface.islower():
            return _SHAPE_ID["lower"]
        if surface.isupper():
            return _SHAPE_ID["upper" if len(surface) > 1 else "title"]
        if surface[0].isupper() and surface[1:].islower():
            return _SHAPE_ID["title"]
        return _SHAPE_ID["mixed-case"]
    scripts = {_script(c) for c in surface}
    if scripts <= {"hiragana", "katakana", "kanji"}:
        return _SHAPE_ID[scripts.pop() if len(scripts) == 1 else "mixed-japanese"]
    if all(not c.isalnum() for c in surface):
        return _SHAPE_ID["punctuation"]
    return _SHAPE_ID["lower" if surface.islower() else "other"]


def _fold(text: str) -> str:
    """Lowercase and map every digit to 0: "1996" and "2001" share their embeddings."""
    return "".join("0" if c.isdigit() else c for c in text.lower())


def _load_vocab(path: str | None, first_id: int = 0) -> dict[str, int]:
    if path is None:
        return {}
    with open(path, encoding="utf-8") as handle:
        try:
            vocab = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not a valid vocabulary file ({error})") from None
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise ValueError(f"{path}: a vocabulary must be a JSON object from string to integer id")
    if first_id == 0 and sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"{path}: vocabulary ids must be exactly 0..{len(vocab) - 1}")
    if first_id and vocab and min(vocab.values()) < first_id:  # several keys may share a vector row
        raise ValueError(f"{path}: ids must be at least {first_id}")
    if not vocab:
        raise ValueError(f"{path}: the vocabulary is empty")
    return vocab


class XLNerTokenizer(PreTrainedTokenizer):
    r"""
    Word-level tokenizer for XLNer models, for English and Japanese.

    Args:
        word_vocab_file (`str`, *optional*): JSON file from word to id.
        bigram_vocab_file (`str`, *optional*): JSON file from character bigram to id.
        language (`str`, *optional*, defaults to `"en"`):
            `"en"`: words split on whitespace and punctuation. `"ja"`: words from fugashi + unidic-lite.
        char_input (`str`, *optional*, defaults to `"romaji"`):
            Japanese only: bigrams of the word's `"romaji"` (pykakasi), of its Japanese characters (`"surface"`),
            or both (`"romaji+surface"`: romaji in `char_ids`, Japanese characters in `surface_char_ids`).
        word_input (`str`, *optional*, defaults to `"surface"`):
            Japanese only: word ids from the Japanese `"surface"` form, or from its `"romaji"`.
        romaji_source (`str`, *optional*, defaults to `"surface"`):
            Japanese only: romanise the word's `"surface"` with pykakasi, or UniDic's contextual `"reading"`.
        max_bigrams_per_word (`int`, *optional*, defaults to 24):
            Longer words keep their first and last bigrams.
        pos_vocab_file (`str`, *optional*):
            JSON file from UniDic part of speech to id (Japanese): the tokenizer then gives `pos_ids`.
        vector_vocab_file (`str`, *optional*):
            JSON file from word to its pretrained vector's row (rows from 1; several words may share a
            row): the tokenizer then gives `vector_ids` (0 for a word without a vector).
        word_vocab / bigram_vocab / pos_vocab / vector_vocab (`dict[str, int]`, *optional*):
            vocabularies given directly instead of files.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "char_ids", "shape_ids", "attention_mask"]
    shape_names = WORD_SHAPES  # shape id -> name, for transfer's `shape_roles`
    padding_side = "right"

    def __init__(
        self,
        word_vocab_file: str | None = None,
        bigram_vocab_file: str | None = None,
        surface_bigram_vocab_file: str | None = None,
        pos_vocab_file: str | None = None,
        vector_vocab_file: str | None = None,
        language: str = "en",
        char_input: str = "romaji",
        word_input: str = "surface",
        romaji_source: str = "surface",
        max_bigrams_per_word: int = 24,
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        word_vocab: Mapping[str, int] | None = None,
        bigram_vocab: Mapping[str, int] | None = None,
        surface_bigram_vocab: Mapping[str, int] | None = None,
        pos_vocab: Mapping[str, int] | None = None,
        vector_vocab: Mapping[str, int] | None = None,
        **kwargs,
    ):
        for name, value, allowed in (
            ("language", language, ("en", "ja")),
            ("char_input", char_input, ("romaji", "surface", "romaji+surface")),
            ("word_input", word_input, ("surface", "romaji")),
            ("romaji_source", romaji_source, ("surface", "reading")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.language = language
        self.char_input = char_input
        self.word_input = word_input
        self.romaji_source = romaji_source
        self.max_bigrams_per_word = max_bigrams_per_word
        pad_token, unk_token = str(pad_token), str(unk_token)  # reloaded as AddedToken
        specials = {pad_token: 0, unk_token: 1}
        if kwargs.get("name_or_path"):  # loaded by `from_pretrained`: never fall back to empty vocabularies
            for key, path, given in (("word_vocab_file", word_vocab_file, word_vocab), ("bigram_vocab_file", bigram_vocab_file, bigram_vocab)):  # fmt: skip
                if path is None and given is None:
                    # ValueError: `from_pretrained` replaces an OSError's message by a generic one.
                    raise ValueError(f"{kwargs['name_or_path']}: {VOCAB_FILES_NAMES[key]} is missing; the tokenizer needs both vocabularies")
        self.word_to_id = dict(word_vocab) if word_vocab is not None else _load_vocab(word_vocab_file) or specials
        self.bigram_to_id = (
            dict(bigram_vocab) if bigram_vocab is not None else _load_vocab(bigram_vocab_file) or dict(specials)
        )
        for vocab, name in ((self.word_to_id, "word"), (self.bigram_to_id, "bigram")):
            if vocab.get(pad_token) != 0 or vocab.get(unk_token) != 1:
                raise ValueError(f"the {name} vocabulary must map {pad_token!r} to 0 and {unk_token!r} to 1")
        # Optional features: none when their vocabulary is absent (older models, English models).
        self.surface_bigram_to_id = (
            dict(surface_bigram_vocab) if surface_bigram_vocab is not None else _load_vocab(surface_bigram_vocab_file)
        )
        if char_input == "romaji+surface" and language == "ja" and kwargs.get("name_or_path") and not self.surface_bigram_to_id:
            raise ValueError(f"{kwargs['name_or_path']}: surface_bigram_vocab.json is missing (char_input 'romaji+surface')")
        self.pos_to_id = dict(pos_vocab) if pos_vocab is not None else _load_vocab(pos_vocab_file)
        self.vector_to_id = dict(vector_vocab) if vector_vocab is not None else _load_vocab(vector_vocab_file, first_id=1)
        if self.pos_to_id and language != "ja":
            raise ValueError("a part-of-speech vocabulary needs language='ja' (UniDic parts of speech)")
        self.model_input_names = [
            "input_ids", "char_ids", *(["surface_char_ids"] if self.surface_bigram_to_id else []), "shape_ids",
            *(["pos_ids"] if self.pos_to_id else []),
            *(["vector_ids"] if self.vector_to_id else []), "attention_mask",
        ]  # fmt: skip
        self.id_to_word = {index: word for word, index in self.word_to_id.items()}
        self.segmenter = JapaneseSegmenter() if language == "ja" else None
        # Per word type: (word id, bigram ids, shape id, pos id, vector id, surface bigram ids). Bounded so that
        # streaming stays flat. Threads share it without a lock: each get/set is atomic and a value depends only
        # on its key.
        self._word_cache: dict[tuple[str, str | None, str | None, str | None], tuple] = {}
        super().__init__(
            language=language,
            char_input=char_input,
            word_input=word_input,
            romaji_source=romaji_source,
            max_bigrams_per_word=max_bigrams_per_word,
            pad_token=pad_token,
            unk_token=unk_token,
            **kwargs,
        )

    # ------------------------------------------------------------------ vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self.word_to_id)

    @property
    def bigram_vocab_size(self) -> int:
        return len(self.bigram_to_id)

    @property
    def surface_bigram_vocab_size(self) -> int:
        """Rows of the model's second (Japanese-character) bigram embedding (0: no second channel)."""
        return len(self.surface_bigram_to_id)

    @property
    def pos_vocab_size(self) -> int:
        """Rows of the model's part-of-speech embedding (0: no part-of-speech feature)."""
        return len(self.pos_to_id)

    @property
    def vector_vocab_size(self) -> int:
        """Rows of the model's pretrained-vector table, row 0 (no vector) included (0: no vectors)."""
        return max(self.vector_to_id.values()) + 1 if self.vector_to_id else 0

    def get_vocab(self) -> dict[str, int]:
        return dict(self.word_to_id)

    def _convert_token_to_id(self, token: str) -> int:
        return self.word_to_id.get(self._word_key(Word(token, 0, len(token))), self.word_to_id[str(self.unk_token)])

    def _convert_id_to_token(self, index: int) -> str:
        return self.id_to_word.get(index, str(self.unk_token))

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return ("" if self.language == "ja" else " ").join(tokens)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return [word.surface for word in self.split_words(text)]

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        paths = []
        vocabs = [("word_vocab_file", self.word_to_id), ("bigram_vocab_file", self.bigram_to_id)]
        optional = (
            ("surface_bigram_vocab_file", self.surface_bigram_to_id), ("pos_vocab_file", self.pos_to_id),
            ("vector_vocab_file", self.vector_to_id),
        )  # fmt: skip
        vocabs += [(key, vocab) for key, vocab in optional if vocab]
        for key, vocab in vocabs:
            path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES[key])
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(vocab, handle, ensure_ascii=False, indent=0)
            paths.append(path)
        return tuple(paths)

    @classmethod
    def from_corpus(
        cls,
        texts: Iterable[str | Sequence[str]],
        language: str = "en",
        is_split_into_words: bool = False,
        min_word_frequency: int = 1,
        max_words: int | None = None,
        min_bigram_frequency: int = 1,
        max_bigrams: int | None = None,
        extra_bigram_texts: Iterable[str | Sequence[str]] = (),
        part_of_speech: bool = False,
        vector_vocab: Mapping[str, int] | None = None,
        **kwargs,
    ) -> "XLNerTokenizer":
        """Build the word and bigram vocabularies from training texts (raw strings or lists of words).

        `extra_bigram_texts` (for instance the other language's training text) only add bigrams,
        so that a bigram vocabulary can be shared by English and romanised Japanese.
        `part_of_speech` (Japanese, raw texts) also builds a vocabulary of UniDic's parts of speech;
        `vector_vocab` (word → pretrained vector row, from 1) is kept as it is given.
        """
        tokenizer = cls(language=language, **kwargs)
        word_counts: Counter[str] = Counter()
        bigram_counts: Counter[str] = Counter()
        pos_counts: Counter[str] = Counter()
        surface_counts: Counter[str] = Counter()
        two_channels = language == "ja" and tokenizer.char_input == "romaji+surface"
        for text in texts:
            for word in tokenizer._words(text, is_split_into_words, pos=part_of_speech):
                word_counts[tokenizer._word_key(word)] += 1
                bigram_counts.update(tokenizer._bigrams(word))
                if two_channels:
                    surface_counts.update(tokenizer._bigrams(word, surface=True))
                pos_counts[word.pos] += word.pos is not None
        for text in extra_bigram_texts:
            for word in split_english(text) if isinstance(text, str) else tokenizer._words(text, True):
                bigram_counts.update(tokenizer._bigrams(word))

        def vocabulary(counts: Counter[str], min_frequency: int, max_size: int | None) -> dict[str, int]:
            vocab = {str(tokenizer.pad_token): 0, str(tokenizer.unk_token): 1}
            for item, count in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])):
                if count < min_frequency or (max_size is not None and len(vocab) >= max_size):
                    break
                vocab.setdefault(item, len(vocab))
            return vocab

        if part_of_speech and not +pos_counts:
            raise ValueError("part_of_speech needs Japanese raw texts: UniDic gave no part of speech")
        return cls(
            language=language,
            word_vocab=vocabulary(word_counts, min_word_frequency, max_words),
            bigram_vocab=vocabulary(bigram_counts, min_bigram_frequency, max_bigrams),
            surface_bigram_vocab=vocabulary(surface_counts, min_bigram_frequency, max_bigrams) if two_channels else None,
            pos_vocab=vocabulary(pos_counts, 1, None) if part_of_speech else None,
            vector_vocab=vector_vocab,
            **kwargs,
        )

    # ------------------------------------------------------------------ words and their features

    def split_words(self, text: str) -> list[Word]:
        """The words of a raw text, each with its [start, end) offsets into `text`."""
        if self.language == "ja":
            return self.segmenter.segment(text)
        return split_english(text)

    def split_long_text(self, text: str, max_chars: int) -> list[tuple[int, int]]:
        """`[start, end)` pieces of at most `max_chars` characters, cut at sentence boundaries (see segmentation.py)."""
        return split_long_text(text, max_chars)

    def _words(self, text: str | Sequence[str], is_split_into_words: bool, pos: bool | None = None) -> list[Word]:
        if not is_split_into_words:
            if not isinstance(text, str):
                raise TypeError(f"expected a string, got {type(text).__name__}; pass is_split_into_words=True for word lists")
            if self.language == "ja":  # readings and parts of speech only when used: parsing them costs time
                pos = bool(self.pos_to_id or self.vector_to_id) if pos is None else pos  # lemmas find vectors
                return self.segmenter.segment(text, readings=self.romaji_source == "reading", pos=pos)
            return self.split_words(text)
        words, position = [], 0
        for index, surface in enumerate(text):
            if not isinstance(surface, str) or not surface.strip():
                raise ValueError(f"word {index} of a pre-split input is empty or not a string: {surface!r}")
            # Offsets of pre-split words point into " ".join(words).
            words.append(Word(surface, position, position + len(surface)))
            position += len(surface) + 1
        return words

    def _romaji(self, word: Word) -> str:
        source = word.reading if self.romaji_source == "reading" and word.reading else word.surface
        return self.segmenter.romanize(source)

    def _word_key(self, word: Word) -> str:
        if self.language == "ja" and self.word_input == "romaji":
            return _fold(self._romaji(word))
        return _fold(word.surface)

    def _bigrams(self, word: Word, surface: bool = False) -> list[str]:
        """The word's bigrams: of its romaji or its characters (`char_input`), or with `surface` of its characters."""
        romaji = self.language == "ja" and self.char_input != "surface" and not surface
        characters = self._romaji(word) if romaji else word.surface
        marked = WORD_START + _fold(characters) + WORD_END
        bigrams = [marked[i : i + 2] for i in range(len(marked) - 1)]
        limit = self.max_bigrams_per_word
        if len(bigrams) > limit:  # the bi-LSTM's final states read both ends of the word
            bigrams = bigrams[: limit // 2] + bigrams[len(bigrams) - (limit - limit // 2) :]
        return bigrams

    def _vector_id(self, word: Word) -> int:
        """Row of the word's pretrained vector: by its surface, lowercased (GloVe's), its lemma (chiVe's
        dictionary forms, given with parts of speech), digits folded, else 0 (none)."""
        vectors, surface = self.vector_to_id, word.surface
        return (
            vectors.get(surface) or vectors.get(surface.lower()) or (word.lemma is not None and vectors.get(word.lemma))
            or vectors.get(_fold(surface), 0)
        )  # fmt: skip

    def _word_features(self, word: Word) -> tuple[int, list[int], int, int, int]:
        key = (word.surface, word.reading if self.romaji_source == "reading" else None, word.pos, word.lemma)
        features = self._word_cache.get(key)
        if features is None:
            unk = 1
            features = (
                self.word_to_id.get(self._word_key(word), unk),
                [self.bigram_to_id.get(bigram, unk) for bigram in self._bigrams(word)],
                word_shape(word.surface),
                self.pos_to_id.get(word.pos, unk) if self.pos_to_id else 0,
                self._vector_id(word) if self.vector_to_id else 0,
                [self.surface_bigram_to_id.get(b, unk) for b in self._bigrams(word, surface=True)] if self.surface_bigram_to_id else [],
            )
            if len(self._word_cache) >= 200_000:
                self._word_cache.clear()
            self._word_cache[key] = features
        return features

    # ------------------------------------------------------------------ encoding

    def encode_words(
        self, text: str | Sequence[str], is_split_into_words: bool = False, max_words: int | None = None
    ) -> dict[str, list]:
        """One text's model inputs before any padding (each word's bigram list as long as the word's own),
        and its `offset_mapping`: what `__call__` pads. The pipeline pads whole batches itself."""
        words = self._words(text, is_split_into_words)
        if max_words is not None:
            words = words[:max_words]
        features = [self._word_features(word) for word in words]
        encoded = {
            "input_ids": [f[0] for f in features], "char_ids": [f[1] for f in features], "shape_ids": [f[2] for f in features]
        }  # fmt: skip
        for name, column in (("pos_ids", 3), ("vector_ids", 4), ("surface_char_ids", 5)):
            if name in self.model_input_names:
                encoded[name] = [f[column] for f in features]
        encoded["offset_mapping"] = [(word.start, word.end) for word in words]
        return encoded

    def _encode_plus(
        self,
        text: str | Sequence[str] | Sequence[str | Sequence[str]],
        text_pair=None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy=None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors=None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **kwargs,
    ) -> BatchEncoding:
        if text_pair is not None:
            raise ValueError("XLNerTokenizer tags single sentences; text pairs are not supported")
        batched = isinstance(text, (list, tuple)) and (
            not is_split_into_words or (len(text) > 0 and isinstance(text[0], (list, tuple)))
        )
        texts = text if batched else [text]
        truncate_to = max_length if truncation_strategy is not None and truncation_strategy.value != "do_not_truncate" else None
        encoded: dict[str, list] = {}
        for index, item in enumerate(texts):
            if item is None:
                raise TypeError(f"input {index} of the batch is None; expected a string")
            for name, value in self.encode_words(item, is_split_into_words, truncate_to).items():
                if name != "offset_mapping" or return_offsets_mapping:
                    encoded.setdefault(name, []).append(value)
        if not texts:  # the same keys as a batch of texts would have
            names = [name for name in self.model_input_names if name != "attention_mask"]
            encoded = {name: [] for name in [*names, *(["offset_mapping"] if return_offsets_mapping else [])]}
        if return_special_tokens_mask:
            encoded["special_tokens_mask"] = [[0] * len(ids) for ids in encoded["input_ids"]]
        if return_length:
            encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        if not batched:
            encoded = {key: value[0] for key, value in encoded.items()}
        return self.pad(
            encoded,
            padding=padding_strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
            return_tensors=return_tensors,
        )

    def pad(
        self,
        encoded_inputs: Mapping | Sequence[Mapping],
        padding: bool | str | PaddingStrategy = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors=None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad words (and every word's bigrams) to the longest in the batch, or to `max_length`.

        Works as a `DataCollatorForTokenClassification` tokenizer: `char_ids` become a
        `(batch, words, bigrams)` tensor padded with 0.
        """
        if (padding_side or self.padding_side) != "right":
            raise ValueError("XLNerTokenizer pads on the right only")
        if isinstance(encoded_inputs, (list, tuple)):
            if not encoded_inputs:
                raise ValueError("nothing to pad: the batch is empty")
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        batch = {key: _as_python(value) for key, value in encoded_inputs.items()}
        batched = bool(batch["input_ids"]) and isinstance(batch["input_ids"][0], (list, tuple))
        if not batched:
            batch = {key: [value] for key, value in batch.items()}
        lengths = [len(ids) for ids in batch["input_ids"]]

        if isinstance(padding, bool):
            padding = "longest" if padding else "do_not_pad"
        strategy = PaddingStrategy(padding)
        if strategy == PaddingStrategy.DO_NOT_PAD:
            padded_lengths = lengths
        else:
            target = max_length if strategy == PaddingStrategy.MAX_LENGTH and max_length else max(lengths, default=0)
            # A batch of empty texts still gets one (masked) position: `char_ids` stay 3-dimensional
            # and the model's packed LSTMs get a valid length.
            target = max(target, 1)
            if pad_to_multiple_of:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
            padded_lengths = [target] * len(lengths)
            fill = {"input_ids": 0, "shape_ids": 0, "pos_ids": 0, "vector_ids": 0, "special_tokens_mask": 1, "offset_mapping": (0, 0), "labels": -100}
            for key, rows in batch.items():
                if key in fill:
                    batch[key] = [list(row) + [fill[key]] * (target - len(row)) for row in rows]
        as_torch = return_tensors is not None and getattr(return_tensors, "value", return_tensors) == "pt"
        for key in ("char_ids", "surface_char_ids"):
            if key not in batch:
                continue
            # Bigram lists are always padded to the batch's longest word, so that every
            # example is a rectangular (words, bigrams) array even without word padding.
            longest_word = max((len(b) for words in batch[key] for b in words), default=1)
            if as_torch and len(set(padded_lengths)) == 1:
                batch[key] = _padded_char_tensor(batch[key], padded_lengths[0], longest_word)
            else:
                batch[key] = [
                    [b + [0] * (longest_word - len(b)) for b in words] + [[0] * longest_word] * (width - len(words))
                    for words, width in zip(batch[key], padded_lengths)
                ]
        if return_attention_mask is not False:
            batch["attention_mask"] = [[1] * n + [0] * (width - n) for n, width in zip(lengths, padded_lengths)]
        if not batched:
            batch = {key: value[0] for key, value in batch.items()}
        if as_torch:
            # transformers builds tensors from nested lists one element at a time, after flattening
            # them to check for emptiness: with the (batch, words, bigrams) arrays that was the
            # slowest step of inference. Rectangular integer arrays go to torch in one copy instead.
            batch = {key: _int64_tensor(value) for key, value in batch.items()}
        return BatchEncoding(batch, tensor_type=return_tensors)


def _int64_tensor(value):
    """A rectangular nested list of ints as an int64 tensor, as `torch.tensor(value)` makes it, only
    faster; anything else (ragged, floats, bools, strings) is returned as it is, for transformers."""
    shape, probe = [], value
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    if not shape or isinstance(probe, bool) or not (isinstance(probe, int) or not shape[-1]):
        return value
    flat = value
    for _ in range(len(shape) - 1):
        flat = itertools.chain.from_iterable(flat)
    try:
        data = array.array("q", flat)
    except (TypeError, OverflowError):
        return value
    if len(data) != math.prod(shape):
        return value
    import torch

    if not data:
        return torch.zeros(shape, dtype=torch.int64)
    return torch.frombuffer(data, dtype=torch.int64).view(shape)


def _padded_char_tensor(char_ids: list[list[list[int]]], width: int, longest_word: int):
    """`char_ids` (texts → words → bigram ids) as a 0-padded `(texts, width, longest_word)` int64 tensor.

    Filled from one flat array of all bigram ids rather than by padding every word's list in Python.
    """
    import torch

    words = [bigrams for text in char_ids for bigrams in text]
    result = torch.zeros(len(char_ids) * width, longest_word, dtype=torch.int64)
    if words:
        word_lengths = torch.tensor([len(bigrams) for bigrams in words])
        counts = torch.tensor([len(text) for text in char_ids])
        # Row of each word in the (texts * width) result: its text's first row, plus its position.
        slots = torch.repeat_interleave(torch.arange(len(char_ids)) * width - (torch.cumsum(counts, 0) - counts), counts)
        slots += torch.arange(len(words))
        filled = torch.arange(longest_word) < word_lengths[:, None]
        values = array.array("q", itertools.chain.from_iterable(words))
        rows = torch.zeros(len(words), longest_word, dtype=torch.int64)
        if values:
            rows[filled] = torch.frombuffer(values, dtype=torch.int64)
        result[slots] = rows
    return result.view(len(char_ids), width, longest_word)


def _as_python(value):
    """Tensors and arrays (as a collator may get them) to nested Python lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "tolist"):
        return [item.tolist() for item in value]
    return value


__all__ = ["XLNerTokenizer", "WORD_SHAPES", "word_shape"]
