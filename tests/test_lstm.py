"""The bi-LSTM of the char and context modules (modeling_xlner/lstm_xlner.py): its fast no-grad path equals nn.LSTM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import modeling_xlner.lstm_xlner as lstm_xlner
import modeling_xlner.modeling_xlner as modeling
from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.lstm_xlner import XLNerLSTM

from test_modeling import TEXTS, make
from xlner_test_models import JA_DATA, random_model_dir, read_jsonl


def reference_lstm(lstm: XLNerLSTM, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row run on its own through a plain nn.LSTM with the same weights: outputs and final states."""
    plain = nn.LSTM(lstm.input_size, lstm.hidden_size, num_layers=lstm.num_layers, batch_first=True, bidirectional=True)
    plain.load_state_dict(lstm.state_dict())
    outputs = torch.zeros(*inputs.shape[:2], 2 * lstm.hidden_size)
    finals = []
    for row, length in enumerate(lengths.tolist()):
        output, (hidden, _) = plain(inputs[row : row + 1, :length])
        outputs[row, :length] = output[0]
        finals.append(torch.cat([hidden[-2, 0], hidden[-1, 0]]))
    return outputs, torch.stack(finals)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_fast_and_packed_paths_equal_one_row_at_a_time(num_layers):
    generator = torch.Generator().manual_seed(num_layers)
    torch.manual_seed(num_layers)
    lstm = XLNerLSTM(7, 5, num_layers=num_layers)
    embedding = nn.Embedding(30, 7, padding_idx=0)
    lengths = torch.tensor([6, 1, 3, 6, 2])
    ids = torch.randint(1, 30, (5, 6), generator=generator) * (torch.arange(6) < lengths[:, None])
    inputs = embedding(ids).detach()
    expected_outputs, expected_finals = reference_lstm(lstm, inputs, lengths)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            outputs, finals = lstm(inputs, lengths)
            none, from_ids = lstm(ids, lengths, embedding=embedding, return_outputs=False)
        assert none is None
        torch.testing.assert_close(outputs.detach(), expected_outputs, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(finals.detach(), expected_finals, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(from_ids.detach(), expected_finals, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("context_num_layers", [1, 2])
def test_inference_lstm_equals_packed_lstm(context_num_layers):
    """Without autograd the bi-LSTMs run on their own code path (fewer ops); it computes what nn.LSTM does."""
    model, tokenizer = make("ja", context_num_layers=context_num_layers)
    texts = TEXTS["ja"] + ["ア", "東京タワーから東京タワーへ、そしてスカイツリーへ行った。" * 3, "", "abc"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    generator = torch.Generator().manual_seed(1)
    # Random ids and lengths too: words of one bigram, a sentence of one word, every bigram id.
    random_batch = {
        "input_ids": torch.randint(1, model.config.word_vocab_size, (5, 9), generator=generator),
        "char_ids": torch.randint(1, model.config.bigram_vocab_size, (5, 9, 7), generator=generator),
        "shape_ids": torch.randint(1, model.config.num_shapes, (5, 9), generator=generator),
        "attention_mask": (torch.arange(9) < torch.tensor([9, 1, 4, 9, 2])[:, None]).long(),
    }
    bigram_lengths = torch.randint(0, 8, (5, 9), generator=generator)
    random_batch["char_ids"] *= torch.arange(7) < bigram_lengths[..., None]
    random_batch["char_ids"][..., 0] = random_batch["char_ids"][..., 0].clamp(min=1)  # every word has a bigram
    for inputs in (batch, random_batch):
        with torch.enable_grad():
            packed = model(**inputs).logits.detach()
        with torch.inference_mode():
            fast = model(**inputs).logits
        torch.testing.assert_close(fast, packed, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            char = model.xlner.char(inputs["char_ids"], inputs["shape_ids"])
        with torch.enable_grad():
            torch.testing.assert_close(char, model.xlner.char(inputs["char_ids"], inputs["shape_ids"]).detach(), rtol=1e-5, atol=1e-6)


def test_inference_lstm_equals_packed_lstm_when_gates_saturate():
    """tanh computed as 2 * sigmoid(2x) - 1 agrees with nn.LSTM on saturated gates and stays finite on huge ones."""
    for scale in (10.0, 1e4):
        model, tokenizer = make("ja")
        with torch.no_grad():
            for lstm in (model.xlner.char.lstm, model.xlner.context.lstm):
                for parameter in lstm.parameters():
                    parameter.mul_(scale)
        batch = tokenizer(TEXTS["ja"], padding=True, return_tensors="pt")
        with torch.inference_mode():
            fast = model(**batch).logits
        assert torch.isfinite(fast).all()
        if scale == 10.0:  # beyond that, float rounding in the products is amplified by the weights themselves
            with torch.enable_grad():
                packed = model(**batch).logits.detach()
            torch.testing.assert_close(fast, packed, rtol=1e-5, atol=1e-5)


def test_unique_rows_is_torch_unique():
    generator = torch.Generator().manual_seed(0)
    for trial in range(200):
        n, width = int(torch.randint(1, 200, (1,), generator=generator)), int(torch.randint(1, 26, (1,), generator=generator))
        rows = torch.randint(0, [3, 700, 70_000, 2**40][trial % 4], (n, width), generator=generator)
        lengths = torch.randint(1, width + 1, (n,), generator=generator)
        rows[torch.arange(width)[None, :] >= lengths[:, None]] = 0  # zero-padded like bigram ids
        rows[:, 0] = rows[:, 0].clamp(min=1)
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        fast_unique, fast_inverse = lstm_xlner.unique_rows(rows)
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
        monkeypatch.setattr(modeling, "unique_rows", lambda rows: torch.unique(rows, dim=0, return_inverse=True))
        plain = [model(**batch).logits for batch in batches]
    assert all(torch.equal(a, b) for a, b in zip(fast, plain))
