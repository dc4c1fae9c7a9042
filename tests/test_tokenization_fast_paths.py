"""The tokenizer's fast paths (normalisation, tensors from lists) give exactly what the plain code gives."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modeling_xlner import XLNerTokenizer
from tokenization import segmentation
from tokenization.tokenization_xlner import _int64_tensor

from xlner_test_models import JA_DATA, random_model_dir, read_jsonl


def normalize_slowly(text: str) -> tuple[str, list[int], list[int]]:
    """`normalize_with_offsets` without its fast path: the per-character loop, always."""
    characters, starts, ends = [], [], []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and segmentation._attaches(text[j]):
            j += 1
        chunk = "".join(" " if unicodedata.category(c) in segmentation._INVISIBLE_CATEGORIES else c for c in text[i:j])
        for character in unicodedata.normalize("NFKC", chunk):
            characters.append(character)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(characters), starts, ends


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=30)
    | st.text(alphabet="あア漢ｱﾞﾟＡ１\u3000\u0301\u200d\ufe0f\U000e0100 a.", max_size=30)
)
def test_normalisation_fast_path_is_exact(text):
    assert segmentation.normalize_with_offsets(text) == normalize_slowly(text)


def test_normalisation_fast_path_on_every_character():
    for code in range(0, 0x110000, 7):  # a seventh of all code points, between plain characters
        text = "東" + chr(code) + "a"
        assert segmentation.normalize_with_offsets(text) == normalize_slowly(text), hex(code)


def test_japanese_corpus_takes_the_fast_path_and_gets_the_same_words():
    texts = [record["text"] for record in read_jsonl(JA_DATA / "test.jsonl")]
    assert all(segmentation._is_plain(text) for text in texts)  # Stockmark text is NFKC already
    segmenter = segmentation.JapaneseSegmenter()
    for text in texts[:200] + ["ｿﾆｰｸﾞﾙｰﾌﾟ ㍿ナムコ\u3000ＩＢＭ", "e\u0301cole", "\x00東京\u200b"]:
        with_readings = segmenter.segment(text)
        without = segmenter.segment(text, readings=False)
        assert [w[:3] for w in with_readings] == [w[:3] for w in without]
        assert all(w.reading is None for w in without)


@pytest.mark.parametrize(
    "value",
    [[1, 2, 3], [[1, 2], [3, 4]], [[[1], [2]], [[3], [4]]], [], [[], []], [[(0, 1), (1, 2)]], [[0, -100]], [[2**40]]],
)
def test_int64_tensor_is_torch_tensor(value):
    tensor = _int64_tensor(value)
    expected = torch.tensor(value, dtype=torch.int64)
    assert torch.equal(tensor, expected) and tensor.dtype == expected.dtype and tensor.shape == expected.shape


@pytest.mark.parametrize("value", [[[1], [2, 3]], [1.5], [True], ["a"], [[1], 2]])
def test_int64_tensor_leaves_the_rest_to_transformers(value):
    assert _int64_tensor(value) is value


def test_padded_tensors_equal_the_lists():
    tokenizer = XLNerTokenizer.from_pretrained(random_model_dir("ja"))
    texts = [record["text"] for record in read_jsonl(JA_DATA / "test.jsonl", 40)] + ["", " "]
    options = {"return_offsets_mapping": True, "padding": True, "return_special_tokens_mask": True, "return_length": True}
    tensors = tokenizer(texts, return_tensors="pt", **options)
    lists = tokenizer(texts, **options)
    assert set(tensors) == set(lists)
    for key in lists:
        assert torch.equal(tensors[key], torch.tensor(lists[key])), key
