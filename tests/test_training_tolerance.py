"""Training on what real files hold: blank texts, sentences of thousands of words, duplicate sentences.

Each test writes a small synthetic English file and trains a tiny model for one epoch (seconds).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import random
import re
from pathlib import Path

import pytest
import torch

from modeling_xlner import XLNerForTokenClassification
from modeling_xlner.cli import main
from modeling_xlner.training.trainer import MAX_TRAIN_WORDS, cut_points

TINY = ["word_embedding_dim=8", "bigram_embedding_dim=4", "shape_embedding_dim=2", "char_hidden_size=4", "context_hidden_size=8"]
NAMES, CITIES = ["Peter", "Anna", "Jones", "Maria"], ["Paris", "London", "Berlin", "Tokyo"]
FILLER = ["the", "man", "went", "to", "a", "city", "and", "said", "that", "it", "was", "nice", "."]


def sentence(rng: random.Random, words: int = 8) -> list[tuple[str, str]]:
    """(word, IOB2 tag) pairs: filler words around a person and a city."""
    pairs = [(rng.choice(FILLER), "O") for _ in range(max(words - 2, 0))]
    for entity in ((rng.choice(CITIES), "B-LOC"), (rng.choice(NAMES), "B-PER")):
        pairs.insert(rng.randrange(len(pairs) + 1), entity)
    return pairs


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return path


def as_record(pairs: list[tuple[str, str]]) -> dict:
    """A span-JSON record of the sentence (words joined by spaces)."""
    text, entities = "", []
    for word, tag in pairs:
        start = len(text) + (1 if text else 0)
        text = f"{text} {word}" if text else word
        if tag != "O":
            entities.append({"span": [start, start + len(word)], "type": tag[2:]})
    return {"text": text, "entities": entities}


def train(tmp_path: Path, train_file: Path, validation_file: Path, *options: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main([
            "train", "--lang", "en", "--train", str(train_file), "--validation", str(validation_file),
            "--output-dir", str(tmp_path / "out"), "--epochs", "1", "--threads", "1", "--vectors", "none",
            "--seed", "1", "--set", *TINY, *options,
        ])  # fmt: skip
    return json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture
def losses(monkeypatch) -> list[float]:
    """Every loss the model computes (training steps and evaluation), recorded as the Trainer gets it."""
    recorded: list[float] = []
    forward = XLNerForTokenClassification.forward

    @functools.wraps(forward)  # the Trainer reads the model's input names from the signature
    def recording_forward(self, *args, **kwargs):
        output = forward(self, *args, **kwargs)
        if output.loss is not None:
            recorded.append(output.loss.item())
        return output

    monkeypatch.setattr(XLNerForTokenClassification, "forward", recording_forward)
    return recorded


@pytest.mark.parametrize("head", ["--crf", "--no-crf"])
def test_batches_of_blank_texts_give_a_finite_loss(tmp_path, losses, caplog, head):
    rng = random.Random(0)
    # One text with words and five blank ones in batches of two: at least two batches are all blank,
    # whatever order the sampler draws.
    records = [as_record(sentence(rng))] + [{"text": text, "entities": []} for text in ["", " ", "\t", "  \n ", ""]]
    train_file = tmp_path / "train.jsonl"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        results = train(tmp_path, train_file, train_file, "--batch-size", "2", head)
    assert len(losses) >= 3 and all(math.isfinite(loss) for loss in losses), losses
    assert results["epochs_trained"] == 1 and math.isfinite(results["learning_curve"][0]["train_loss"])
    assert "5 of 6 training texts are blank" in caplog.text
    model = XLNerForTokenClassification.from_pretrained(tmp_path / "out")
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())


def test_a_sentence_of_5000_words_trains_in_pieces(tmp_path, caplog):
    rng = random.Random(1)
    # Entities all through the long sentence, some of two words, so that a cut has to avoid them.
    long = [pair for _ in range(625) for pair in sentence(rng, 7) + [("Smith", "B-PER"), ("Jr", "I-PER")]][:5000]
    train_file = write_conll(tmp_path / "train.txt", [sentence(rng) for _ in range(6)] + [long])
    validation_file = write_conll(tmp_path / "valid.txt", [sentence(rng) for _ in range(4)] + [long])
    with caplog.at_level(logging.WARNING):
        results = train(tmp_path, train_file, validation_file, "--batch-size", "4")
    cut = re.search(rf"1 training examples of more than {MAX_TRAIN_WORDS} words cut into (\d+) pieces", caplog.text)
    assert cut and int(cut.group(1)) >= -(-5000 // MAX_TRAIN_WORDS)
    assert results["epochs_trained"] == 1 and results["data"]["train_sentences"] == 7
    assert results["validation"]["n_gold"] > 1000  # the long validation sentence is scored whole, not cut


def test_pieces_never_start_inside_an_entity():
    continuations = frozenset({2})  # I-PER
    labels = [0, 1, 2, 2, 0, 1, 2, 0, 0, 1, 2, 2, 2]
    points = cut_points(labels, 4, continuations)
    assert points[0] == 0 and points[-1] == len(labels)
    assert all(0 < b - a <= 4 for a, b in zip(points, points[1:]))
    assert all(labels[p] != 2 for p in points[1:-1])
    # An entity longer than a piece is the one case cut inside.
    assert cut_points([1, 2, 2, 2, 2, 2], 4, continuations) == [0, 4, 6]
    assert cut_points(labels, 100, continuations) == [0, len(labels)]


def test_duplicate_sentences_are_kept_and_counted(tmp_path, caplog):
    rng = random.Random(2)
    sentences = [sentence(rng) for _ in range(6)]
    relabelled = [(word, "O") for word, _ in sentences[1]]
    train_file = write_conll(tmp_path / "train.txt", sentences + [sentences[0], sentences[0], sentences[1], relabelled])
    with caplog.at_level(logging.WARNING):
        results = train(tmp_path, train_file, write_conll(tmp_path / "valid.txt", sentences[:3]), "--batch-size", "4")
    assert "4 of 10 training sentences repeat an earlier one (1 of them tagged otherwise); kept" in caplog.text
    assert results["data"]["train_sentences"] == 10 and results["epochs_trained"] == 1
