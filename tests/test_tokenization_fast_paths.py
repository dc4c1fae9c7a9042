"""The tokenizer's fast paths: normalisation (its fast path included) against hand-worked cases and its documented
contract, and tensors from lists equal to torch's."""

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


# What `normalize_with_offsets` promises, written from its documentation rather than from its loop:
# control and format characters read as spaces, a character and the marks attached to it are
# normalised together and share one original span. The categories and marks are the documented ones.
INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def attaches(character: str) -> bool:
    """A combining mark, a half-width voicing mark (ﾞ ﾟ) or any non-spacing / enclosing mark."""
    marks = ("Mn", "Me")
    return bool(unicodedata.combining(character)) or character in "\uff9e\uff9f" or unicodedata.category(character) in marks


def groups(starts: list[int], ends: list[int]) -> list[tuple[int, int, int, int]]:
    """Runs of normalised characters sharing one original span: (span start, span end, first, last + 1)."""
    runs = []
    for index, span in enumerate(zip(starts, ends)):
        if runs and runs[-1][:2] == span:
            runs[-1] = (*span, runs[-1][2], index + 1)
        else:
            runs.append((*span, index, index + 1))
    return runs


def check_normalisation(text: str) -> None:
    """The contract on any text: spans tile the text, each is one character with its attached marks, and the
    characters mapped to a span are the NFKC form of that slice with invisible characters as spaces."""
    normalized, starts, ends = segmentation.normalize_with_offsets(text)
    assert len(normalized) == len(starts) == len(ends)
    runs = groups(starts, ends)
    # No gap, no overlap: each span starts where the one before ended, from 0 to the end of the text.
    assert [start for start, *_ in runs] == [0, *(end for _, end, *_ in runs)][: len(runs)]
    assert (runs[-1][1] if runs else 0) == len(text)
    for start, end, first, last in runs:
        assert all(attaches(c) for c in text[start + 1 : end]), (text, start, end)
        assert end == len(text) or not attaches(text[end]), (text, start, end)  # the span took all its marks
        visible = "".join(" " if unicodedata.category(c) in INVISIBLE else c for c in text[start:end])
        assert normalized[first:last] == unicodedata.normalize("NFKC", visible), (text, start, end)
    if all(not attaches(c) and unicodedata.category(c) not in INVISIBLE and unicodedata.normalize("NFKC", c) == c for c in text):
        assert (normalized, starts, ends) == (text, list(range(len(text))), list(range(1, len(text) + 1)))


# Worked out by hand: (text, normalised text, original [start, end) of each normalised character).
BY_HAND = [
    ("東京", "東京", [(0, 1), (1, 2)]),
    ("ｿﾆｰ", "ソニー", [(0, 1), (1, 2), (2, 3)]),  # half-width katakana to full width
    ("ｸﾞﾙ", "グル", [(0, 2), (2, 3)]),  # ｸ + ﾞ compose into one グ
    ("㍿", "株式会社", [(0, 1)] * 4),  # one character, four after NFKC
    ("e\u0301t", "\u00e9t", [(0, 2), (2, 3)]),  # e + combining acute compose into é
    ("e\u0301\u0302", "\u00e9\u0302", [(0, 3), (0, 3)]),  # é has no precomposed form with a circumflex on top
    ("a\u200bb\x00", "a b ", [(0, 1), (1, 2), (2, 3), (3, 4)]),  # format and control characters read as spaces
    ("ＩＢＭ１９", "IBM19", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
    ("葛\U000e0100城", "葛\U000e0100城", [(0, 2), (0, 2), (2, 3)]),  # a variation selector stays with its character
    ("ﬁ\u3000Å", "fi Å", [(0, 1), (0, 1), (1, 2), (2, 3)]),  # ligature, ideographic space, Ångström sign
    ("", "", []),
]


@pytest.mark.parametrize("text, normalized, spans", BY_HAND)
def test_normalisation_by_hand(text, normalized, spans):
    got, starts, ends = segmentation.normalize_with_offsets(text)
    assert (got, list(zip(starts, ends))) == (normalized, spans)
    check_normalisation(text)  # the contract holds on these cases too


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=30)
    | st.text(alphabet="あア漢ｱﾞﾟＡ１\u3000\u0301\u200d\ufe0f\U000e0100 a.", max_size=30)
)
def test_normalisation_keeps_its_contract(text):
    check_normalisation(text)


def test_normalisation_contract_on_every_character():
    for code in range(0, 0x110000, 7):  # a seventh of all code points, between plain characters or first
        # First in the text, a mark has nothing to attach to: it starts its own span.
        check_normalisation("東" + chr(code) + "a" if code % 2 else chr(code) + "a")


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
