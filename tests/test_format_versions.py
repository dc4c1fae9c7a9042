"""Config format versions: committed saved models keep working, old fields migrate, newer formats are refused.

The folders under tests/fixtures/ (see make_saved_model_fixture.py) were saved by earlier versions and are
never regenerated to make a test pass: every later version must run them to the stored results.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import StrictDataclassFieldValidationError
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer, configuration_xlner
from modeling_xlner.configuration_xlner import FORMAT_VERSION, Migration
from modeling_xlner.training.evaluation import tagging_pipeline

FIXTURES_DIR = Path(__file__).parent / "fixtures"
FIXTURES = sorted(FIXTURES_DIR.glob("xlner-*"))
FEATURES = FIXTURES_DIR / "xlner-0.1.0-ja-features"


def expected_of(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def simple(entities: list[dict]) -> list[dict]:
    return [{key: e[key] for key in ("entity_group", "start", "end", "word")} for e in entities]


def config_dict(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


# --- the committed folders, through the code saved in them -------------------------------------


@pytest.mark.parametrize("folder", FIXTURES, ids=lambda folder: folder.name)
def test_committed_folder_gives_the_stored_entities_through_its_own_code(folder):
    expected = expected_of(folder)
    assert sum(map(len, expected["entities"])) > 0, "a fixture whose model finds nothing checks nothing"
    ner = pipeline("token-classification", model=str(folder), trust_remote_code=True, aggregation_strategy="simple")
    assert [simple(ner(text)) for text in expected["texts"]] == expected["entities"]


def test_committed_folder_gives_the_stored_logits_through_auto_classes():
    expected = expected_of(FEATURES)
    model = AutoModelForTokenClassification.from_pretrained(FEATURES, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(FEATURES, trust_remote_code=True)
    batch = tokenizer(expected["texts"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), rtol=1e-5, atol=1e-6)


def test_the_features_fixture_covers_every_optional_part():
    config = config_dict(FEATURES)
    assert config["format_version"] == 1 == expected_of(FEATURES)["format_version"]
    assert config["use_crf"] and config["language"] == "ja"
    assert min(config[key] for key in ("pos_vocab_size", "vector_vocab_size", "vector_dim", "surface_bigram_vocab_size")) > 0
    batch = XLNerTokenizer.from_pretrained(FEATURES)(expected_of(FEATURES)["texts"], padding=True, return_tensors="pt")
    mask = batch["attention_mask"].bool()
    assert (batch["vector_ids"][mask] > 0).any() and (batch["pos_ids"][mask] > 1).any()
    assert (batch["surface_char_ids"] > 1).any()


def test_a_config_without_a_version_is_version_1_and_saves_the_current_one(tmp_path):
    old = config_dict(FIXTURES_DIR / "xlner-0.1.0-ja")
    assert "format_version" not in old
    config = XLNerConfig.from_dict(old)
    assert config.format_version == FORMAT_VERSION
    config.save_pretrained(tmp_path)
    assert config_dict(tmp_path)["format_version"] == FORMAT_VERSION


# --- migrations (a test-local version 2 that renames and removes fields) -----------------------


@pytest.fixture
def version_2(monkeypatch):
    """Format version 2 as if it had renamed `char_lstm_size` to `char_hidden_size` and removed `use_highway`."""
    monkeypatch.setattr(configuration_xlner, "FORMAT_VERSION", 2)
    monkeypatch.setattr(
        configuration_xlner, "MIGRATIONS", {1: Migration(renamed={"char_lstm_size": "char_hidden_size"}, removed=("use_highway",))}
    )


def version_1_config(folder: Path) -> dict:
    """The folder's config as version 1 of `version_2` wrote it: old field name, a field since removed, no version."""
    config = config_dict(folder)
    config["char_lstm_size"] = config.pop("char_hidden_size")
    config["use_highway"] = True
    del config["format_version"]
    return config


def test_renamed_and_removed_fields_migrate(version_2, caplog):
    with caplog.at_level(logging.WARNING, logger="modeling_xlner.configuration_xlner"):
        config = XLNerConfig.from_dict(version_1_config(FEATURES))
    assert config.char_hidden_size == config_dict(FEATURES)["char_hidden_size"] != XLNerConfig().char_hidden_size
    assert not hasattr(config, "char_lstm_size") and not hasattr(config, "use_highway")
    assert config.format_version == 2 and "char_lstm_size" not in config.to_dict()
    assert "'use_highway'" in caplog.text and "removed in format version 2" in caplog.text


def test_a_migrated_model_loads_and_gives_the_stored_entities(version_2, tmp_path):
    folder = tmp_path / "old-model"
    shutil.copytree(FEATURES, folder)
    (folder / "config.json").write_text(json.dumps(version_1_config(FEATURES)), encoding="utf-8")
    model = XLNerForTokenClassification.from_pretrained(folder)  # char sizes wrong without the rename: a shape error
    found = tagging_pipeline(model, XLNerTokenizer.from_pretrained(folder))(expected_of(FEATURES)["texts"], aggregation_strategy="simple")
    assert [simple(entities) for entities in found] == expected_of(FEATURES)["entities"]


def test_the_current_version_needs_no_migration(version_2):
    config = XLNerConfig.from_dict({**config_dict(FEATURES), "format_version": 2})
    assert config.char_hidden_size == config_dict(FEATURES)["char_hidden_size"] and config.format_version == 2


def test_a_newer_format_version_says_to_upgrade(tmp_path):
    folder = tmp_path / "future-model"
    shutil.copytree(FEATURES, folder)
    (folder / "config.json").write_text(json.dumps({**config_dict(FEATURES), "format_version": FORMAT_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"format_version {FORMAT_VERSION + 1}, newer than this xlner reads .*upgrade xlner"):
        XLNerForTokenClassification.from_pretrained(folder)


@pytest.mark.parametrize("value", [0, -1, "2", True])
def test_an_invalid_format_version_is_named(value):
    with pytest.raises((ValueError, StrictDataclassFieldValidationError), match="format_version"):
        XLNerConfig(format_version=value)


def test_a_field_of_the_wrong_type_names_the_field():
    with pytest.raises(StrictDataclassFieldValidationError, match="field 'word_vocab_size'"):
        XLNerConfig.from_dict({**config_dict(FEATURES), "word_vocab_size": "many"})
