"""Tests for tokenization/: words, offsets into the raw text, bigrams, shapes, vocabularies, padding."""

from __future__ import annotations

import json
import unicodedata

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import DataCollatorForTokenClassification

from modeling_xlner import XLNerConfig, XLNerForTokenClassification
from tokenization.segmentation import normalize_with_offsets
from tokenization.tokenization_xlner import WORD_END, WORD_SHAPES, WORD_START, XLNerTokenizer


ENGLISH = ["EU rejects German call to boycott British lamb .", "Peter Blackburn", "BRUSSELS 1996-08-22"]
JAPANESE = ["株式会社ナムコに入社した。", "東京と大阪は日本の都市である。", "ガッツ石松はボクサーだ。"]
SHAPE = {name: index for index, name in enumerate(WORD_SHAPES)}


@pytest.fixture(scope="module")
def en() -> XLNerTokenizer:
    return XLNerTokenizer.from_corpus(ENGLISH, language="en")


@pytest.fixture(scope="module")
def ja() -> XLNerTokenizer:
    return XLNerTokenizer.from_corpus(JAPANESE, language="ja")


def words_of(tokenizer: XLNerTokenizer, text: str) -> list[str]:
    """The original-text slice of every word."""
    return [text[start:end] for start, end in tokenizer(text, return_offsets_mapping=True)["offset_mapping"]]


def assert_valid_offsets(tokenizer: XLNerTokenizer, text: str) -> None:
    """Offsets point into `text`, are non-empty, ordered, non-overlapping and cover no blank word."""
    encoding = tokenizer(text, return_offsets_mapping=True)
    offsets = encoding["offset_mapping"]
    previous_end = 0
    for start, end in offsets:
        assert previous_end <= start < end <= len(text), (text, offsets)
        assert text[start:end].strip(), (text, offsets)
        previous_end = end
    n = len(offsets)
    assert len(encoding["input_ids"]) == len(encoding["char_ids"]) == len(encoding["shape_ids"]) == n
    assert len(encoding["attention_mask"]) == n
    assert all(0 < len(bigrams) <= tokenizer.max_bigrams_per_word for bigrams in encoding["char_ids"])
    # Each word's surface is what normalisation made of its original slice.
    for word in tokenizer.split_words(text):
        normalized = normalize_with_offsets(text[word.start : word.end])[0]
        assert word.surface.replace(" ", "") in normalized.replace(" ", ""), (text, word)


# --- shapes -----------------------------------------------------------------------------------


def test_single_text_shapes(en):
    encoding = en("Peter Blackburn visited Brussels")
    assert set(encoding) == {"input_ids", "char_ids", "shape_ids", "attention_mask"}
    assert len(encoding["input_ids"]) == len(encoding["shape_ids"]) == len(encoding["attention_mask"]) == 4
    assert len(encoding["char_ids"]) == 4
    # Unpadded single text: each word keeps rows of the batch's longest word (rectangular).
    assert {len(bigrams) for bigrams in encoding["char_ids"]} == {len("blackburn") + 1}
    assert encoding["attention_mask"] == [1, 1, 1, 1]


def test_batch_tensor_shapes(en, ja):
    for tokenizer, texts in ((en, ENGLISH), (ja, JAPANESE)):
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        lengths = [len(tokenizer(text)["input_ids"]) for text in texts]
        batch_size, width = len(texts), max(lengths)
        assert batch["input_ids"].shape == batch["shape_ids"].shape == batch["attention_mask"].shape == (batch_size, width)
        assert batch["char_ids"].dim() == 3 and batch["char_ids"].shape[:2] == (batch_size, width)
        assert batch["char_ids"].shape[2] <= tokenizer.max_bigrams_per_word
        assert batch["attention_mask"].sum(dim=1).tolist() == lengths
        padding = batch["attention_mask"] == 0
        assert (batch["input_ids"][padding] == 0).all() and (batch["char_ids"][padding] == 0).all()
        assert (batch["shape_ids"][padding] == 0).all()


def test_encode_words_is_the_encoding_before_padding(en):
    # What the pipeline batches itself: each word's bigram list at its own length (hand-counted), no mask.
    encoding = en.encode_words("Peter Blackburn visited Brussels")
    lengths = [len(bigrams) for bigrams in encoding["char_ids"]]
    assert lengths == [len(word) + 1 for word in ("peter", "blackburn", "visited", "brussels")]
    assert encoding["offset_mapping"] == [(0, 5), (6, 15), (16, 23), (24, 32)]
    assert "attention_mask" not in encoding
    padded = en("Peter Blackburn visited Brussels")
    assert encoding["input_ids"] == padded["input_ids"] and encoding["shape_ids"] == padded["shape_ids"]
    for bigrams, padded_bigrams in zip(encoding["char_ids"], padded["char_ids"]):
        assert padded_bigrams == bigrams + [0] * (len("blackburn") + 1 - len(bigrams))
    assert en.encode_words("Peter Blackburn visited", max_words=2)["offset_mapping"] == [(0, 5), (6, 15)]


def test_pre_split_words(en):
    encoding = en(["Peter", "Blackburn", "."], is_split_into_words=True, return_offsets_mapping=True)
    assert encoding["offset_mapping"] == [(0, 5), (6, 15), (16, 17)]  # into " ".join(words)
    assert len(encoding["input_ids"]) == 3
    with pytest.raises(ValueError, match="word 1"):
        en(["Peter", " "], is_split_into_words=True)


def test_long_word_keeps_both_ends(en):
    word = "a" * 10 + "x" + "b" * 40 + "y"
    bigrams = en(word)["char_ids"][0]
    assert len(bigrams) == en.max_bigrams_per_word
    full = en._bigrams(en.split_words(word)[0])
    assert full[0] == WORD_START + "a" and full[-1] == "y" + WORD_END


# --- offsets into the original string ---------------------------------------------------------


def test_english_offsets(en):
    text = "U.S. officials said 3.5% in New-York's  ＩＢＭ\toffice"
    assert words_of(en, text) == ["U.S.", "officials", "said", "3.5", "%", "in", "New-York", "'s", "ＩＢＭ", "office"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ＡＢＣ２０２３年に入社", ["ＡＢＣ", "２０２３", "年", "に", "入社"]),  # full-width Latin and digits
        ("ｶﾞｯﾂ石松は", ["ｶﾞｯﾂ", "石松", "は"]),  # half-width katakana with a voicing mark
        ("㍿ナムコへ", ["㍿", "ナムコ", "へ"]),  # one character expanded to four by NFKC
        ("東京\x00大阪\u200bへ", ["東京", "大阪", "へ"]),  # NUL and zero-width space: no word
        ("\r\n東京\t大阪\u3000京都", ["東京", "大阪", "京都"]),  # ideographic space
    ],
)
def test_japanese_offsets(ja, text, expected):
    assert words_of(ja, text) == expected
    assert_valid_offsets(ja, text)


def test_normalisation_keeps_surfaces_and_offsets(ja, en):
    # The normalised surfaces are what the vocabularies see; offsets still point at the original.
    words = ja.split_words("ＡＢＣ２０２３年ｶﾞｯﾂ")
    assert [w.surface for w in words][:2] == ["ABC", "2023"]
    assert [w.surface for w in words][-1] == "ガッツ"
    assert (words[-1].start, words[-1].end) == (8, 12)
    (word,) = ja.split_words("㍿")
    assert (word.surface, word.start, word.end) == ("株式会社", 0, 1)


@pytest.mark.parametrize("tokenizer_name", ["en", "ja"])
def test_combining_marks_stay_with_their_base(tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    text = "cafe\u0301 de To\u0304kyo\u0304"  # decomposed é and ō
    assert words_of(tokenizer, text) == ["cafe\u0301", "de", "To\u0304kyo\u0304"]
    assert tokenizer.split_words(text)[0].surface == "café"  # composed by NFKC
    # Variation selectors (category Mn, combining class 0) belong to their base character too.
    assert words_of(tokenizer, "葛\U000e0100城 ❤\ufe0f") [-1] == "❤\ufe0f"


@pytest.mark.parametrize("text", ["\U000e0100", "葛\U000e0100", "a\U000e01ef東京", "\ufe0f", "❤\ufe0fの"])
def test_variation_selectors_do_not_break_romanisation(ja, text):
    # Regression: pykakasi raised IndexError on U+E0100..U+E01EF (variation selectors supplement).
    encoding = ja(text, return_offsets_mapping=True)
    assert all(len(bigrams) > 0 for bigrams in encoding["char_ids"])
    assert_valid_offsets(ja, text)


@pytest.mark.parametrize("tokenizer_name", ["en", "ja"])
def test_control_characters_are_separators(tokenizer_name, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    assert words_of(tokenizer, "a\x00b\x07c\x1bd") == ["a", "b", "c", "d"]


@pytest.mark.parametrize("tokenizer_name", ["en", "ja"])
@pytest.mark.parametrize("text", ["", " ", "   \t\n", "\u3000\r\n", "\x00\u200b\ufeff"])
def test_empty_and_blank_texts_have_no_words(tokenizer_name, text, request):
    tokenizer = request.getfixturevalue(tokenizer_name)
    encoding = tokenizer(text, return_offsets_mapping=True)
    assert encoding["input_ids"] == encoding["char_ids"] == encoding["offset_mapping"] == []
    batch = tokenizer([text, "Paris"], padding=True, return_tensors="pt")
    assert batch["attention_mask"].tolist() == [[0], [1]]
    # A batch of only empty texts keeps one masked position, so that the model can run on it.
    batch = tokenizer([text, text], padding=True, return_tensors="pt")
    assert batch["attention_mask"].tolist() == [[0], [0]]
    assert batch["char_ids"].shape == (2, 1, 1) and batch["input_ids"].shape == (2, 1)


# --- bigrams and shapes -----------------------------------------------------------------------


def test_bigrams_have_word_boundary_markers():
    tokenizer = XLNerTokenizer.from_corpus(["Paris"], language="en")
    expected = [WORD_START + "p", "pa", "ar", "ri", "is", "s" + WORD_END]
    assert set(tokenizer.bigram_to_id) == {"<pad>", "<unk>", *expected}
    assert tokenizer("Paris")["char_ids"] == [[tokenizer.bigram_to_id[b] for b in expected]]
    # "pa" inside a word and "␂p" at its start are different bigrams.
    assert tokenizer.bigram_to_id["pa"] != tokenizer.bigram_to_id[WORD_START + "p"]


def test_bigrams_are_lowercased_and_case_goes_to_shape(en):
    encoding = en(["Paris", "PARIS", "paris", "PaRiS"], is_split_into_words=True)
    assert len({tuple(bigrams) for bigrams in encoding["char_ids"]}) == 1
    assert encoding["shape_ids"] == [SHAPE["title"], SHAPE["upper"], SHAPE["lower"], SHAPE["mixed-case"]]
    # Word ids are lowercased and digit-folded too: one embedding for all spellings.
    assert len(set(en(["Paris", "PARIS", "paris"], is_split_into_words=True)["input_ids"])) == 1
    assert en("1996 2001")["input_ids"][0] == en("1996 2001")["input_ids"][1]


def test_shapes_of_numbers_punctuation_and_japanese_scripts(en, ja):
    assert en("1996 3.5 A4 .")["shape_ids"] == [SHAPE["number"], SHAPE["number"], SHAPE["has-digit"], SHAPE["punctuation"]]
    shapes = dict(zip(words_of(ja, "東京とナムコの本社"), ja("東京とナムコの本社")["shape_ids"]))
    assert shapes["東京"] == SHAPE["kanji"] and shapes["と"] == SHAPE["hiragana"] and shapes["ナムコ"] == SHAPE["katakana"]


def test_romaji_bigrams_share_the_english_vocabulary():
    english = XLNerTokenizer.from_corpus(["Paris", "Tokyo"], language="en")
    japanese = XLNerTokenizer(language="ja", bigram_vocab=english.bigram_to_id)
    paris_en = english("Paris")["char_ids"][0]
    paris_ja = japanese("パリ")["char_ids"][0]  # romaji "pari"
    assert paris_ja[:4] == paris_en[:4]  # ␂p pa ar ri
    tokyo = japanese("トウキョウ")["char_ids"][0]
    assert 1 not in english("tokyo")["char_ids"][0]
    assert japanese.segmenter.romanize("トウキョウ") == "toukyou"
    assert tokyo[:2] == english("Tokyo")["char_ids"][0][:2]  # ␂t to


def test_surface_char_input_uses_japanese_characters():
    tokenizer = XLNerTokenizer.from_corpus(["東京"], language="ja", char_input="surface")
    assert WORD_START + "東" in tokenizer.bigram_to_id and "東京" in tokenizer.bigram_to_id


def test_extra_bigram_texts_only_add_bigrams():
    tokenizer = XLNerTokenizer.from_corpus(["東京"], language="ja", extra_bigram_texts=["Paris"])
    assert "pa" in tokenizer.bigram_to_id and "paris" not in tokenizer.word_to_id


# --- vocabularies -----------------------------------------------------------------------------

CORPUS = [["a", "b", "a", "c"], ["a", "b", "d"]]  # a:3 b:2 c:1 d:1


def test_vocabulary_order_and_specials():
    tokenizer = XLNerTokenizer.from_corpus(CORPUS, is_split_into_words=True)
    assert tokenizer.word_to_id == {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3, "c": 4, "d": 5}
    assert tokenizer.vocab_size == 6
    assert tokenizer(["a", "zzz"], is_split_into_words=True)["input_ids"] == [2, 1]


def test_min_frequency_and_max_size():
    tokenizer = XLNerTokenizer.from_corpus(CORPUS, is_split_into_words=True, min_word_frequency=2)
    assert tokenizer.word_to_id == {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3}
    tokenizer = XLNerTokenizer.from_corpus(CORPUS, is_split_into_words=True, max_words=3)
    assert tokenizer.word_to_id == {"<pad>": 0, "<unk>": 1, "a": 2}
    full = XLNerTokenizer.from_corpus(ENGLISH, language="en")
    frequent = XLNerTokenizer.from_corpus(ENGLISH, language="en", min_bigram_frequency=2)
    small = XLNerTokenizer.from_corpus(ENGLISH, language="en", max_bigrams=10)
    assert small.bigram_vocab_size == 10 < frequent.bigram_vocab_size < full.bigram_vocab_size
    assert set(small.bigram_to_id) <= set(frequent.bigram_to_id) <= set(full.bigram_to_id)


def test_invalid_options_and_vocabularies(tmp_path):
    with pytest.raises(ValueError, match="language"):
        XLNerTokenizer(language="fr")
    with pytest.raises(ValueError, match="char_input"):
        XLNerTokenizer(language="ja", char_input="kana")
    with pytest.raises(ValueError, match="'<pad>' to 0"):
        XLNerTokenizer(word_vocab={"a": 0, "<unk>": 1, "<pad>": 2})
    for content, what in (("{not json", "not a valid vocabulary"), ('["a"]', "JSON object"), ('{"a": 0, "b": 2}', "0..1")):
        path = tmp_path / "word_vocab.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=what) as error:
            XLNerTokenizer(word_vocab_file=str(path))
        assert str(path) in str(error.value)


@pytest.mark.parametrize("language, texts", [("en", ENGLISH), ("ja", JAPANESE)])
def test_save_and_load_round_trip(tmp_path, language, texts):
    options = {"char_input": "surface", "word_input": "romaji", "romaji_source": "reading"} if language == "ja" else {}
    tokenizer = XLNerTokenizer.from_corpus(texts, language=language, max_bigrams_per_word=12, **options)
    tokenizer.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "word_vocab.json").read_text(encoding="utf-8")) == tokenizer.word_to_id
    loaded = XLNerTokenizer.from_pretrained(tmp_path)
    assert loaded.word_to_id == tokenizer.word_to_id
    assert loaded.bigram_to_id == tokenizer.bigram_to_id
    for name in ("language", "char_input", "word_input", "romaji_source", "max_bigrams_per_word"):
        assert getattr(loaded, name) == getattr(tokenizer, name), name
    assert (str(loaded.pad_token), str(loaded.unk_token)) == ("<pad>", "<unk>")
    probe = texts + ["ＡＢＣ２０２３年 ｶﾞｯﾂ Unknown words"]
    assert loaded(probe, return_offsets_mapping=True) == tokenizer(probe, return_offsets_mapping=True)


def test_tokenizer_pickles_for_dataset_map(ja):
    import pickle

    clone = pickle.loads(pickle.dumps(ja))
    assert clone(JAPANESE) == ja(JAPANESE)


# --- padding and the collator -----------------------------------------------------------------


def test_pad_to_multiple_and_max_length(en):
    batch = en(ENGLISH, padding="max_length", max_length=12, return_tensors="pt")
    assert batch["input_ids"].shape == (3, 12)
    batch = en(ENGLISH, padding=True, pad_to_multiple_of=8, return_tensors="pt")
    assert batch["input_ids"].shape[1] % 8 == 0
    truncated = en(ENGLISH[0], truncation=True, max_length=3)
    assert len(truncated["input_ids"]) == 3
    with pytest.raises(ValueError, match="right"):
        en(ENGLISH, padding=True, padding_side="left")


@pytest.mark.parametrize("language, texts", [("en", ENGLISH), ("ja", JAPANESE + [""])])
def test_collator_pads_char_ids_and_labels_for_the_model(language, texts):
    tokenizer = XLNerTokenizer.from_corpus(texts, language=language)
    labels = ["O", "B-X", "I-X"]
    features = []
    for index, text in enumerate(texts):
        encoding = tokenizer(text)
        n = len(encoding["input_ids"])
        features.append({**encoding, "labels": [(index + i) % 3 for i in range(n)]})
    batch = DataCollatorForTokenClassification(tokenizer)(features)
    width = max(len(f["input_ids"]) for f in features)
    assert batch["input_ids"].shape == batch["labels"].shape == (len(texts), width)
    assert batch["char_ids"].dim() == 3 and batch["char_ids"].shape[:2] == (len(texts), width)
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=dict(enumerate(labels)),
        word_embedding_dim=8, bigram_embedding_dim=8, char_hidden_size=4, context_hidden_size=6,
    )  # fmt: skip
    torch.manual_seed(0)
    output = XLNerForTokenClassification(config)(**batch)
    assert torch.isfinite(output.loss)
    assert output.logits.shape == (len(texts), width, len(labels))
    output.loss.backward()


# --- properties over arbitrary Unicode (issue 6) ----------------------------------------------

# Characters NFKC changes, some of which expand (㍿ → 株式会社, ﷺ → 18 characters, ½ → 1⁄2).
NFKC_CHANGED = [c for c in map(chr, range(0x00A0, 0x10000)) if unicodedata.normalize("NFKC", c) != c]
CHARACTER_POOLS = st.one_of(
    st.sampled_from([chr(c) for c in range(0xFF01, 0xFF5F)]),  # full-width ASCII
    st.sampled_from([chr(c) for c in range(0xFF61, 0xFFA0)]),  # half-width katakana and marks
    st.sampled_from([chr(c) for c in range(0x0300, 0x0370)] + ["\u3099", "\u309a", "\u20dd"]),  # combining marks
    st.sampled_from([chr(c) for c in range(0xFE00, 0xFE10)] + [chr(c) for c in range(0xE0100, 0xE01F0, 7)]),  # selectors
    st.sampled_from(["👨", "👩", "👧", "\u200d", "🏳", "🌈", "🇯", "🇵", "🏽", "❤"]),  # emoji, joiners, flags
    st.sampled_from(NFKC_CHANGED),
    st.sampled_from(list("東京大阪株式会社ナムコにはのがをabcXYZ019 .,-'’\t\n") + ["\u3000", "\x00", "\r", "\u2028", "\x85"]),
    st.characters(codec="utf-8"),  # any encodable code point, from any script
)
MIXED_TEXT = st.lists(CHARACTER_POOLS, max_size=40).map("".join)
LONG_WORD = st.tuples(st.sampled_from("aあア漢Ａｱ"), st.integers(30, 2000)).map(lambda pair: pair[0] * pair[1])
ANY_TEXT = st.one_of(
    st.text(max_size=40),
    MIXED_TEXT,
    st.tuples(MIXED_TEXT, LONG_WORD, MIXED_TEXT).map("".join),
)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(text=ANY_TEXT)
def test_property_offsets_english(en, text):
    assert_valid_offsets(en, text)


@PROPERTY_SETTINGS
@given(text=ANY_TEXT)
def test_property_offsets_japanese(ja, text):
    assert_valid_offsets(ja, text)


@settings(max_examples=50, deadline=None)
@given(texts=st.lists(MIXED_TEXT, min_size=1, max_size=4))
def test_property_batches_pad_consistently(en, ja, texts):
    for tokenizer in (en, ja):
        batch = tokenizer(texts, padding=True, return_tensors="pt", return_offsets_mapping=True)
        for row, text in enumerate(texts):
            single = tokenizer(text, return_offsets_mapping=True)
            n = len(single["input_ids"])
            assert batch["attention_mask"][row].sum().item() == n
            assert batch["input_ids"][row, :n].tolist() == single["input_ids"]
            assert [tuple(pair) for pair in batch["offset_mapping"][row, :n].tolist()] == single["offset_mapping"]
