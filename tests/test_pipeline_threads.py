"""One pipeline shared by 8 threads gives exactly what sequential calls give (pipeline_xlner.py, segmentation.py).

fugashi's nodes read their features from the MeCab tagger's lattice, which the next parse overwrites;
without `JapaneseSegmenter._tagger_lock` a thread switch between two node reads hands a text another
text's readings and parts of speech. A tiny switch interval makes such switches frequent, so the
"reading" model's tests fail when the lock is removed (checked by hand: 39 and 35 of 68 calls differed).
The "surface" model reads MeCab's text output in one call that holds the GIL: safe even without the lock,
tested so that it stays so.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.pipeline_xlner import XLNerTokenClassificationPipeline

from xlner_test_models import JA_DATA, JA_TYPES, TINY, labels_for, read_jsonl

THREADS = 8
TEXTS_PER_CALL = 8
EXTRA_TEXTS = ["", "ｿﾆｰｸﾞﾙｰﾌﾟとＩＢＭが提携、👍🏽", "東京", "株式会社ナムコに入社し、ファミスタ'88等の作曲を手掛ける。" * 40]


@pytest.fixture(scope="module")
def texts(shared_data) -> list[str]:
    """The 535 Stockmark test texts and a few odd ones (empty, half-width, emoji, longer than a chunk)."""
    return [record["text"] for record in read_jsonl(JA_DATA / "test.jsonl")] + EXTRA_TEXTS


def japanese_pipeline(romaji_source: str) -> XLNerTokenClassificationPipeline:
    """A tiny untrained model with parts of speech; "reading" reads every MeCab node, "surface" MeCab's text output."""
    torch.manual_seed(0)
    train_texts = [record["text"] for record in read_jsonl(JA_DATA / "train.jsonl", 300)]
    tokenizer = XLNerTokenizer.from_corpus(train_texts, language="ja", part_of_speech=True, romaji_source=romaji_source)
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        pos_vocab_size=tokenizer.pos_vocab_size,
        id2label=labels_for(JA_TYPES),
        language="ja",
        **TINY,
    )
    model = XLNerForTokenClassification(config).eval()
    with torch.no_grad():  # spread the logits: entities everywhere, so a changed feature shows
        model.head.weight.mul_(8.0)
    return XLNerTokenClassificationPipeline(
        model=model, tokenizer=tokenizer, task="token-classification", device=-1, aggregation_strategy="simple"
    )


@pytest.fixture(scope="module", params=["reading", "surface"])
def pipe(request, shared_data) -> XLNerTokenClassificationPipeline:
    return japanese_pipeline(request.param)


@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond rather than every 5 ms, so that an unprotected race shows."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def in_calls(texts: Sequence[str]) -> list[list[str]]:
    """The texts in calls of `TEXTS_PER_CALL`: the same batches sequentially and in threads, so floats agree."""
    return [list(texts[i : i + TEXTS_PER_CALL]) for i in range(0, len(texts), TEXTS_PER_CALL)]


def sequential_and_threaded(work: Callable, calls: list) -> tuple[list, list]:
    sequential = [work(call) for call in calls]
    with frequent_thread_switches(), ThreadPoolExecutor(max_workers=THREADS) as pool:
        threaded = list(pool.map(work, calls))
    return sequential, threaded


def test_tokenizer_shared_by_threads_gives_sequential_features(pipe, texts):
    def features(call: list[str]) -> list[dict]:
        return [dict(pipe.tokenizer(text, return_offsets_mapping=True)) for text in call]

    sequential, threaded = sequential_and_threaded(features, in_calls(texts))
    assert any(encoding["pos_ids"] for call in sequential for encoding in call)
    differing = [i for i, (a, b) in enumerate(zip(sequential, threaded)) if a != b]
    assert not differing, f"{len(differing)} of {len(sequential)} calls got other features in threads"


def test_pipeline_shared_by_threads_gives_sequential_entities(pipe, texts):
    sequential, threaded = sequential_and_threaded(pipe, in_calls(texts))
    assert sum(len(entities) for call in sequential for entities in call) > len(texts)  # the oracle is not empty
    differing = [i for i, (a, b) in enumerate(zip(sequential, threaded)) if a != b]
    assert not differing, f"{len(differing)} of {len(sequential)} calls got other entities in threads"


def test_streaming_calls_shared_by_threads(pipe, texts):
    """Generators streamed in chunks (with the background tokenizer thread) from 8 threads at once."""

    def streamed(call: list[str]) -> list[list[dict]]:
        return list(pipe(iter(call), chunk_size=3, batch_size=2, num_workers=1))

    calls = in_calls(texts[:160])
    sequential, threaded = sequential_and_threaded(streamed, calls)
    assert threaded == sequential
