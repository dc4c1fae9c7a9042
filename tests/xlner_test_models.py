"""Tiny saved XLNer models for the inference tests (built once per test process, in a temp folder).

`random_model_dir(language)`: vocabularies from a slice of the real corpus, small random weights.
Untrained, its tags are close to arbitrary, which is what offset and grouping tests want: every
kind of B/I sequence, entities everywhere.

`trained_model_dir()`: a small Japanese model trained for a few hundred steps on a slice of the
Stockmark data, for the tests that compare scores with `xlner evaluate`.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.training.data import read_conll, spans_to_word_tags

# ../shared/data beside the repository; XLNER_SHARED_DATA points elsewhere (a missing folder shows what
# the suite does without the data: every test that needs it skips).
SHARED_DATA = Path(os.environ.get("XLNER_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
JA_DATA = SHARED_DATA / "ner-wikipedia-ja"
EN_DATA = SHARED_DATA / "conll2003"
JA_TYPES = ["人名", "法人名", "政治的組織名", "その他の組織名", "地名", "施設名", "製品名", "イベント名"]
EN_TYPES = ["PER", "ORG", "LOC", "MISC"]
TINY = {
    "word_embedding_dim": 16,
    "bigram_embedding_dim": 8,
    "shape_embedding_dim": 4,
    "char_hidden_size": 8,
    "context_hidden_size": 16,
}

_ROOT = None


def _root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="xlner-test-models-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def require_shared_data() -> Path:
    """The shared data folder, or a skip of the calling test (or fixture) naming the missing folder."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not found at {SHARED_DATA} (see README: Set up, run, test)")
    return SHARED_DATA


def labels_for(types: list[str]) -> dict[int, str]:
    return dict(enumerate(["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]))


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    if path.is_relative_to(SHARED_DATA):
        require_shared_data()
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                records.append(json.loads(line))
            if limit is not None and len(records) >= limit:
                break
    return records


def _save(model, tokenizer, name: str) -> str:
    path = _root() / name
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@functools.cache
def random_model_dir(language: str) -> str:
    """A saved untrained model with real vocabularies (Japanese: Stockmark train; English: CoNLL train)."""
    require_shared_data()
    torch.manual_seed(0)
    if language == "ja":
        texts = [record["text"] for record in read_jsonl(JA_DATA / "train.jsonl", 300)]
        tokenizer = XLNerTokenizer.from_corpus(texts, language="ja")
        types = JA_TYPES
    else:
        sentences = read_conll(EN_DATA / "train.txt")[:300]
        tokenizer = XLNerTokenizer.from_corpus([s["tokens"] for s in sentences], language="en", is_split_into_words=True)
        types = EN_TYPES
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=labels_for(types),
        language=language,
        **TINY,
    )
    model = XLNerForTokenClassification(config).eval()
    with torch.no_grad():  # spread the logits so that every label gets predicted somewhere
        model.head.weight.mul_(8.0)
    return _save(model, tokenizer, f"random-{language}")


@functools.cache
def trained_model_dir(train_size: int = 1200, steps: int = 250, seed: int = 0) -> str:
    """A small Japanese model trained briefly (Adam, batches of 16) on the first Stockmark train texts."""
    require_shared_data()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    records = read_jsonl(JA_DATA / "train.jsonl", train_size)
    texts = [record["text"] for record in records]
    tokenizer = XLNerTokenizer.from_corpus(texts, language="ja")
    id2label = labels_for(JA_TYPES)
    label2id = {label: index for index, label in id2label.items()}
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=id2label,
        language="ja",
        word_embedding_dim=50,
        bigram_embedding_dim=32,
        char_hidden_size=32,
        context_hidden_size=64,
        dropout=0.2,
    )
    model = XLNerForTokenClassification(config)
    encoding = tokenizer(texts, return_offsets_mapping=True)
    labels = []
    for offsets, record in zip(encoding["offset_mapping"], records):
        entities = [{"start": e["span"][0], "end": e["span"][1], "type": e["type"]} for e in record["entities"]]
        labels.append([label2id[tag] for tag in spans_to_word_tags(offsets, entities)[0]])
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(steps):
        batch = rng.sample(range(len(texts)), 16)
        features = [
            {key: encoding[key][i] for key in ("input_ids", "char_ids", "shape_ids")} | {"labels": labels[i]}
            for i in batch
        ]
        loss = model(**tokenizer.pad(features, return_tensors="pt")).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return _save(model, tokenizer, f"trained-ja-{train_size}-{steps}-{seed}")
