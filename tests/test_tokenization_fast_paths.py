"""The inference speed-ups change nothing: same normalisation, words, tensors and logits as the plain code."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import modeling_xlner.modeling_xlner as modeling
from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer
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


def test_unique_rows_is_torch_unique():
    generator = torch.Generator().manual_seed(0)
    for trial in range(200):
        n, width = int(torch.randint(1, 200, (1,), generator=generator)), int(torch.randint(1, 26, (1,), generator=generator))
        rows = torch.randint(0, [3, 700, 70_000, 2**40][trial % 4], (n, width), generator=generator)
        lengths = torch.randint(1, width + 1, (n,), generator=generator)
        rows[torch.arange(width)[None, :] >= lengths[:, None]] = 0  # zero-padded like bigram ids
        rows[:, 0] = rows[:, 0].clamp(min=1)
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        fast_unique, fast_inverse = modeling._unique_rows(rows)
        assert torch.equal(fast_inverse, inverse)
        assert torch.equal(fast_unique, unique[:, : fast_unique.shape[1]])
        assert not unique[:, fast_unique.shape[1] :].any()  # only all-zero padding columns dropped


def test_logits_are_bitwise_those_of_torch_unique(monkeypatch):
    folder = random_model_dir("ja")
    tokenizer = XLNerTokenizer.from_pretrained(folder)
    model = XLNerForTokenClassification.from_pretrained(folder).eval()
    texts = [record["text"] for record in read_jsonl(JA_DATA / "test.jsonl", 130)]
    batches = [tokenizer(texts[i : i + 64], padding=True, return_tensors="pt") for i in range(0, len(texts), 64)]
    with torch.inference_mode():
        fast = [model(**batch).logits for batch in batches]
        monkeypatch.setattr(modeling, "_unique_rows", lambda rows: torch.unique(rows, dim=0, return_inverse=True))
        plain = [model(**batch).logits for batch in batches]
    assert all(torch.equal(a, b) for a, b in zip(fast, plain))


def viterbi_with_tensor_backtrack(log_probs, attention_mask, transitions, start):
    """`viterbi_decode` as first written: the backtrack indexes the pointer tensors word by word."""
    batch_size, num_words, _ = log_probs.shape
    lengths = attention_mask.sum(dim=-1).tolist()
    score = log_probs[:, 0] + start
    backpointers = []
    for position in range(1, num_words):
        best, pointer = (score[:, :, None] + transitions).max(dim=1)
        active = attention_mask[:, position, None].bool()
        score = torch.where(active, best + log_probs[:, position], score)
        backpointers.append(pointer)
    paths = []
    for row in range(batch_size):
        length = int(lengths[row])
        if length == 0:
            paths.append([])
            continue
        path = [int(score[row].argmax())]
        for pointer in reversed(backpointers[: length - 1]):
            path.append(int(pointer[row, path[-1]]))
        paths.append(path[::-1])
    return paths


def test_viterbi_backtrack_on_lists_is_the_same():
    id2label = {0: "O", 1: "B-A", 2: "I-A", 3: "B-B", 4: "I-B"}
    transitions, start = modeling.bio_transition_scores(id2label)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        batch, words = int(torch.randint(1, 9, (1,), generator=generator)), int(torch.randint(1, 30, (1,), generator=generator))
        log_probs = torch.randn(batch, words, 5, generator=generator).log_softmax(-1)
        lengths = torch.randint(0, words + 1, (batch,), generator=generator)
        mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
        assert modeling.viterbi_decode(log_probs, mask, transitions, start) == viterbi_with_tensor_backtrack(
            log_probs, mask, transitions, start
        )
