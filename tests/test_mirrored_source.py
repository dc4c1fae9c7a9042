"""benchmarks/mirrored_source.py: the mirrored model reads a sentence as the source reads it reversed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mirrored_source import mirror_context  # noqa: E402


@pytest.mark.parametrize("layers", [1, 2])
def test_mirrored_emissions_are_the_source_emissions_of_the_reversed_sentence(layers):
    torch.manual_seed(0)
    config = XLNerConfig(
        word_vocab_size=30, bigram_vocab_size=20, id2label={0: "O", 1: "B-PER", 2: "I-PER"}, word_embedding_dim=6,
        bigram_embedding_dim=4, shape_embedding_dim=2, char_hidden_size=3, context_hidden_size=5, context_num_layers=layers,
    )  # fmt: skip
    source = XLNerForTokenClassification(config).eval()
    mirrored = mirror_context(XLNerForTokenClassification(config).eval())  # other weights first: all must be set
    mirrored.load_state_dict(source.state_dict())
    mirror_context(mirrored)
    words, chars = torch.randint(2, 30, (1, 7)), torch.randint(1, 20, (1, 7, 4))
    shapes = torch.randint(0, config.num_shapes, (1, 7))
    with torch.no_grad():
        reversed_logits = source(words.flip(1), chars.flip(1), shape_ids=shapes.flip(1)).logits
        logits = mirrored(words, chars, shape_ids=shapes).logits
    torch.testing.assert_close(logits, reversed_logits.flip(1))
    assert not torch.allclose(logits, source(words, chars, shape_ids=shapes).logits)  # the oracle is not trivial
