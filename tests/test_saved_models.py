"""Models saved by earlier versions load and run to the same results (tests/fixtures/xlner-<version>-<lang>/).

Each fixture is a tiny random model saved by that version's code, with the logits and entities that
version computed (expected.json). Every later version must load it and give the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForTokenClassification, pipeline

from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.training.evaluation import tagging_pipeline

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("xlner-*"))


def expected_of(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def simple(entities: list[dict]) -> list[dict]:
    return [{key: e[key] for key in ("entity_group", "start", "end", "word")} for e in entities]


@pytest.mark.parametrize("folder", FIXTURES, ids=lambda folder: folder.name)
def test_old_model_gives_the_same_logits(folder):
    expected = expected_of(folder)
    model = XLNerForTokenClassification.from_pretrained(folder).eval()
    tokenizer = XLNerTokenizer.from_pretrained(folder)
    batch = tokenizer(expected["texts"], padding=True, return_tensors="pt")
    assert batch["attention_mask"].tolist() == expected["attention_mask"]
    with torch.no_grad():
        logits = model(**batch).logits
    # Bit-equal at the thread count the fixture was made with; other thread counts sum in another order.
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("folder", FIXTURES, ids=lambda folder: folder.name)
def test_old_model_gives_the_same_entities(folder, tmp_path):
    expected = expected_of(folder)
    assert sum(map(len, expected["entities"])) > 0, "a fixture whose model finds nothing checks nothing"
    model = XLNerForTokenClassification.from_pretrained(folder)
    pipe = tagging_pipeline(model, XLNerTokenizer.from_pretrained(folder))
    assert [simple(found) for found in pipe(expected["texts"], aggregation_strategy="simple")] == expected["entities"]
    # Re-saved by this version, it runs through the Auto pipeline to the same entities.
    model.save_pretrained(tmp_path)
    pipe.tokenizer.save_pretrained(tmp_path)
    remote = pipeline("token-classification", model=str(tmp_path), trust_remote_code=True, aggregation_strategy="simple")
    assert [simple(remote(text)) for text in expected["texts"]] == expected["entities"]


@pytest.mark.parametrize("folder", FIXTURES, ids=lambda folder: folder.name)
def test_old_remote_code_still_loads(folder):
    model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)
    assert model.config.model_type == "xlner" and model.config.num_labels == len(expected_of(folder)["logits"][0][0])
