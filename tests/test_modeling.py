"""Tests for the XLNer model: outputs, loss, module names, padding, saving, and loading as remote code."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from transformers.modeling_outputs import BaseModelOutput, TokenClassifierOutput

from modeling_xlner import TRANSFERABLE_MODULES, XLNerConfig, XLNerForTokenClassification, XLNerModel, XLNerTokenizer


REPO = Path(__file__).resolve().parents[1]
TEXTS = {
    "en": ["EU rejects German call to boycott British lamb .", "Peter Blackburn", "BRUSSELS 1996-08-22", ""],
    "ja": ["株式会社ナムコに入社した。", "東京と大阪", "ＡＢＣ２０２３年にｶﾞｯﾂ石松が来た㍿", "　"],
}
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SMALL = {"word_embedding_dim": 12, "bigram_embedding_dim": 8, "shape_embedding_dim": 4, "char_hidden_size": 6, "context_hidden_size": 10}


def make(language: str = "en", **overrides) -> tuple[XLNerForTokenClassification, XLNerTokenizer]:
    tokenizer = XLNerTokenizer.from_corpus(TEXTS[language][:2], language=language)
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=dict(enumerate(LABELS)),
        language=language,
        **{**SMALL, **overrides},
    )
    torch.manual_seed(0)
    return XLNerForTokenClassification(config).eval(), tokenizer


@pytest.fixture(scope="module")
def en_model():
    return make("en")


def test_output_types_and_shapes(en_model):
    model, tokenizer = en_model
    batch = tokenizer(TEXTS["en"], padding=True, return_tensors="pt")
    batch_size, width = batch["input_ids"].shape
    output = model(**batch, output_hidden_states=True)
    assert isinstance(output, TokenClassifierOutput)
    assert output.loss is None
    assert output.logits.shape == (batch_size, width, len(LABELS))
    word_representations, contextual = output.hidden_states
    assert word_representations.shape == (batch_size, width, SMALL["word_embedding_dim"] + 2 * SMALL["char_hidden_size"] + SMALL["shape_embedding_dim"])
    assert contextual.shape == (batch_size, width, 2 * SMALL["context_hidden_size"])

    encoder = XLNerModel(model.config).eval()
    base = encoder(**batch)
    assert isinstance(base, BaseModelOutput)
    assert base.last_hidden_state.shape == (batch_size, width, 2 * SMALL["context_hidden_size"])
    assert base.hidden_states is None

    as_tuple = model(**batch, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], output.logits)
    labels = torch.zeros_like(batch["input_ids"])
    loss, logits = model(**batch, labels=labels, return_dict=False)
    assert loss.dim() == 0 and torch.equal(logits, output.logits)


def test_loss_ignores_minus_100(en_model):
    model, tokenizer = en_model
    batch = tokenizer(TEXTS["en"][:3], padding=True, return_tensors="pt")
    labels = torch.randint(0, len(LABELS), batch["input_ids"].shape, generator=torch.Generator().manual_seed(1))
    labels[batch["attention_mask"] == 0] = -100
    labels[0, :3] = -100
    output = model(**batch, labels=labels)
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(output.logits[keep], labels[keep])
    torch.testing.assert_close(output.loss, expected)
    # Only the positions that are not -100 count: one labelled word gives exactly its own loss.
    single = torch.full_like(labels, -100)
    single[1, 0] = 3
    torch.testing.assert_close(
        model(**batch, labels=single).loss, torch.nn.functional.cross_entropy(output.logits[1, :1], single[1, :1])
    )
    changed = labels.clone()
    changed[0, :3] = 1  # no longer ignored
    assert not torch.equal(model(**batch, labels=changed).loss, output.loss)


def test_four_transferable_submodules(en_model):
    model, _ = en_model
    assert TRANSFERABLE_MODULES == ("word", "char", "context", "head")
    assert {"word", "char", "context"} <= {name for name, _ in model.xlner.named_children()}
    assert isinstance(model.head, torch.nn.Linear)
    prefixes = {key.split(".")[1] if key.startswith("xlner.") else key.split(".")[0] for key in model.state_dict()}
    assert prefixes == set(TRANSFERABLE_MODULES)
    assert model.xlner.get_input_embeddings() is model.xlner.word.embeddings


def test_word_dropout_only_in_training(en_model):
    model, tokenizer = en_model
    batch = tokenizer(TEXTS["en"][:2], padding=True, return_tensors="pt")
    assert torch.equal(model(**batch).logits, model(**batch).logits)  # eval: deterministic
    config = XLNerConfig(**{**model.config.to_dict(), "word_dropout": 1.0, "dropout": 0.0})
    embeddings = XLNerForTokenClassification(config).xlner.word.train()
    ids = batch["input_ids"]
    out = embeddings(ids)
    unk = embeddings.embeddings.weight[config.unk_token_id]
    pad = embeddings.embeddings.weight[config.pad_token_id]
    assert torch.equal(out[ids != 0], unk.expand_as(out[ids != 0]))
    assert torch.equal(out[ids == 0], pad.expand_as(out[ids == 0]))


def test_word_module_dropout_zeroes_whole_sentences_in_training_only():
    """Each sentence's logits are those of the full model or of the model with its word module zeroed."""
    model, tokenizer = make("en", dropout=0.0, word_dropout=0.0)
    texts = [TEXTS["en"][0]] * 64
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    without_words = XLNerForTokenClassification(model.config).eval()
    without_words.load_state_dict(model.state_dict())
    with torch.no_grad():
        without_words.xlner.word.embeddings.weight.zero_()
        full, blind = model(**batch).logits[0], without_words(**batch).logits[0]
        assert not torch.allclose(full, blind)
        model.config.word_module_dropout = 0.5
        assert torch.equal(model(**batch).logits[0], full)  # eval: no dropout
        logits = model.train()(**batch).logits
    is_full = [torch.allclose(row, full, atol=1e-6) for row in logits]
    is_blind = [torch.allclose(row, blind, atol=1e-6) for row in logits]
    assert all(a != b for a, b in zip(is_full, is_blind))
    assert 10 < sum(is_blind) < 54  # about half of 64 sentences


@pytest.mark.parametrize("language", ["en", "ja"])
def test_padding_does_not_change_logits(language):
    model, tokenizer = make(language)
    texts = TEXTS[language]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        batched = model(**batch).logits
        for row, text in enumerate(texts):
            alone = tokenizer([text], return_tensors="pt", padding=True)
            n = int(alone["attention_mask"].sum())
            single = model(**alone).logits[0, :n]
            assert batch["attention_mask"][row].sum().item() == n
            torch.testing.assert_close(batched[row, :n], single, rtol=1e-5, atol=1e-6)
        # Extra padding words (and longer bigram padding) change nothing either.
        wide = tokenizer(texts, padding="max_length", max_length=40, return_tensors="pt")
        torch.testing.assert_close(model(**wide).logits[:, : batched.shape[1]], batched, rtol=1e-5, atol=1e-6)



def test_shape_ids_required_when_shapes_are_used(en_model):
    model, tokenizer = en_model
    batch = tokenizer(TEXTS["en"][:1], return_tensors="pt")
    with pytest.raises(ValueError, match="shape_ids"):
        model(input_ids=batch["input_ids"], char_ids=batch["char_ids"])
    no_shapes, _ = make("en", shape_embedding_dim=0)
    assert no_shapes(input_ids=batch["input_ids"], char_ids=batch["char_ids"]).logits.shape[-1] == len(LABELS)


def save(tmp_path: Path, language: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """A saved model + tokenizer, and the outputs the in-memory model gave before saving."""
    model, tokenizer = make(language)
    directory = tmp_path / f"model-{language}"
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    batch = tokenizer(TEXTS[language], padding=True, return_tensors="pt")
    with torch.no_grad():
        reference = {
            "logits": model(**batch).logits,
            "hidden": model.xlner(**batch).last_hidden_state,
            "input_ids": batch["input_ids"],
            "char_ids": batch["char_ids"],
        }
    return directory, reference


def test_saved_config_has_auto_map(tmp_path):
    directory, _ = save(tmp_path, "en")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "xlner"
    assert config["auto_map"]["AutoConfig"] == "configuration_xlner.XLNerConfig"
    assert config["auto_map"]["AutoModel"] == "modeling_xlner.XLNerModel"
    assert config["auto_map"]["AutoModelForTokenClassification"] == "modeling_xlner.XLNerForTokenClassification"
    tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tokenizer_config["auto_map"]["AutoTokenizer"][0] == "tokenization_xlner.XLNerTokenizer"
    for name in ("configuration_xlner.py", "modeling_xlner.py", "tokenization_xlner.py", "segmentation.py"):
        assert (directory / name).is_file(), name


def test_in_process_round_trip_is_exact(tmp_path):
    directory, reference = save(tmp_path, "ja")
    model = XLNerForTokenClassification.from_pretrained(directory).eval()
    tokenizer = XLNerTokenizer.from_pretrained(directory)
    batch = tokenizer(TEXTS["ja"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reference["logits"])
    assert model.config.id2label == dict(enumerate(LABELS))


# --- loading in a fresh process, as remote code, offline ----------------------------------------

CHILD = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []
    def refuse(*args, **kwargs):
        attempts.append(repr(args)[:200])
        raise OSError("network access is not allowed in this test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification, AutoTokenizer

    directory, reference_file = sys.argv[1], sys.argv[2]
    torch.set_num_threads(int(sys.argv[4]))  # as when the reference was computed: results depend on it
    reference = torch.load(reference_file)
    config = AutoConfig.from_pretrained(directory, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=True)
    model = AutoModelForTokenClassification.from_pretrained(directory, trust_remote_code=True).eval()
    encoder = AutoModel.from_pretrained(directory, trust_remote_code=True).eval()
    texts = json.loads(sys.argv[3])
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
        hidden = encoder(**batch).last_hidden_state
    remote = sorted(
        module.__file__ for name, module in sys.modules.items()
        if name.startswith("transformers_modules") and getattr(module, "__file__", None)
    )
    print(json.dumps({
        "classes": [f"{type(o).__module__}.{type(o).__name__}" for o in (config, tokenizer, model, encoder)],
        "same_inputs": torch.equal(batch["input_ids"], reference["input_ids"]) and torch.equal(batch["char_ids"], reference["char_ids"]),
        "same_logits": torch.equal(logits, reference["logits"]),
        "same_hidden": torch.equal(hidden, reference["hidden"]),
        "package_imported": sorted(m for m in sys.modules if m.split(".")[0] in ("modeling_xlner", "tokenization")),
        "remote_files": remote,
        "network_attempts": attempts,
    }))
    """
)


def child_environment(tmp_path: Path, offline: bool) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "TRANSFORMERS_"))}
    environment["HF_HOME"] = str(tmp_path / "hf-home")  # fresh module cache: nothing left from other runs
    environment["OMP_WAIT_POLICY"] = "PASSIVE"
    if offline:
        environment["HF_HUB_OFFLINE"] = "1"
    return environment


def our_sources() -> dict[str, str]:
    """sha256 → path of every Python file of the package."""
    files = list((REPO / "modeling_xlner").glob("*.py")) + list((REPO / "tokenization").glob("*.py"))
    return {hashlib.sha256(path.read_bytes()).hexdigest(): str(path) for path in files}


@pytest.fixture(scope="module", params=[("en", True), ("ja", False)], ids=["en-HF_HUB_OFFLINE", "ja-online-env"])
def remote_load(request, tmp_path_factory):
    """Save a model, then load it in a fresh interpreter outside the repository with sockets disabled."""
    language, offline = request.param
    tmp_path = tmp_path_factory.mktemp(f"remote-{language}")
    directory, reference = save(tmp_path, language)
    torch.save(reference, tmp_path / "reference.pt")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(directory), str(tmp_path / "reference.pt"), json.dumps(TEXTS[language]), str(torch.get_num_threads())],
        cwd=outside,
        env=child_environment(tmp_path, offline),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory, json.loads(result.stdout.strip().splitlines()[-1])


def test_remote_code_gives_identical_outputs(remote_load):
    _, report = remote_load
    assert all(name.startswith("transformers_modules.") for name in report["classes"]), report["classes"]
    assert report["classes"][2].endswith(".XLNerForTokenClassification")
    assert report["classes"][3].endswith(".XLNerModel")
    assert report["same_inputs"]
    assert report["same_logits"]
    assert report["same_hidden"]


def test_loading_makes_no_network_call(remote_load):
    _, report = remote_load
    assert report["network_attempts"] == []


def test_loading_runs_only_our_files(remote_load):
    directory, report = remote_load
    # The installed package is not what ran: the copies in the model folder did.
    assert report["package_imported"] == []
    sources = our_sources()
    ran = [Path(path) for path in report["remote_files"] if Path(path).name != "__init__.py"]
    assert {path.name for path in ran} >= {"configuration_xlner.py", "modeling_xlner.py", "tokenization_xlner.py", "segmentation.py"}
    for path in ran:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in sources, f"{path} is not one of the package's files"
    for path in directory.glob("*.py"):  # nothing else travels with the model either
        assert hashlib.sha256(path.read_bytes()).hexdigest() in sources, f"{path} is not one of the package's files"


# --- corrupted files give clear errors ----------------------------------------------------------


@pytest.fixture(scope="module")
def saved_en(tmp_path_factory) -> Path:
    directory, _ = save(tmp_path_factory.mktemp("saved"), "en")
    return directory


def corrupted_copy(saved: Path, tmp_path: Path, name: str, content: bytes | None) -> Path:
    directory = tmp_path / "model"
    shutil.copytree(saved, directory)
    if content is None:
        (directory / name).unlink()
    else:
        (directory / name).write_bytes(content)
    return directory


def edit_config(saved: Path, **changes) -> bytes:
    config = json.loads((saved / "config.json").read_text(encoding="utf-8"))
    config.update(changes)
    return json.dumps(config).encode()


@pytest.mark.parametrize(
    "name, content, error, what",
    [
        ("config.json", b'{"model_type": "xlner", ', OSError, "config.json' is not a valid JSON file"),
        ("config.json", b"", OSError, "not a valid JSON file"),
        ("model.safetensors", b"\x00" * 64, OSError, "model.safetensors: corrupted or not a safetensors"),
        ("model.safetensors", b"", OSError, "model.safetensors: corrupted or not a safetensors"),
        ("model.safetensors", None, OSError, "no file named model.safetensors"),
    ],
    ids=["config-truncated", "config-empty", "weights-garbage", "weights-empty", "weights-missing"],
)
def test_corrupted_model_files(saved_en, tmp_path, name, content, error, what):
    directory = corrupted_copy(saved_en, tmp_path, name, content)
    with pytest.raises(error, match=what.replace("(", r"\(").replace(".", r"\.")):
        XLNerForTokenClassification.from_pretrained(directory)


def test_truncated_weights_name_the_file(saved_en, tmp_path):
    weights = (saved_en / "model.safetensors").read_bytes()
    for cut in (len(weights) - 10, 100):
        directory = corrupted_copy(saved_en, tmp_path / str(cut), "model.safetensors", weights[:cut])
        with pytest.raises(OSError, match="model.safetensors: corrupted") as failure:
            XLNerForTokenClassification.from_pretrained(directory)
        assert str(directory) in str(failure.value)


@pytest.mark.parametrize(
    "changes, what",
    [
        ({"word_vocab_size": "big"}, "word_vocab_size"),
        ({"word_vocab_size": 3}, "ignore_mismatched_sizes"),  # config and weights disagree
        ({"context_hidden_size": 11}, "ignore_mismatched_sizes"),
    ],
)
def test_inconsistent_config(saved_en, tmp_path, changes, what):
    directory = corrupted_copy(saved_en, tmp_path, "config.json", edit_config(saved_en, **changes))
    with pytest.raises(Exception, match=what):
        XLNerForTokenClassification.from_pretrained(directory)


@pytest.mark.parametrize(
    "name, content, what",
    [
        ("word_vocab.json", b'{"<pad>": 0, ', "word_vocab.json: not a valid vocabulary file"),
        ("bigram_vocab.json", b'{"<pad>": 0, "<unk>": 1, "ab": 5}', "bigram_vocab.json: vocabulary ids must be exactly 0..2"),
        ("word_vocab.json", b"{}", "word_vocab.json: the vocabulary is empty"),
        ("word_vocab.json", b'{"<unk>": 0, "<pad>": 1}', "must map '<pad>' to 0"),
        ("word_vocab.json", None, "word_vocab.json is missing"),
        ("bigram_vocab.json", None, "bigram_vocab.json is missing"),
    ],
)
def test_corrupted_vocabularies(saved_en, tmp_path, name, content, what):
    directory = corrupted_copy(saved_en, tmp_path, name, content)
    with pytest.raises(ValueError, match=what.replace("(", r"\(").replace(".", r"\.")) as failure:
        XLNerTokenizer.from_pretrained(directory)
    if content is not None and "must map" not in what:
        assert str(directory / name) in str(failure.value)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_batch_of_empty_texts(language):
    # Regression: a batch with no word at all gave 2-dimensional char_ids and the model failed.
    model, tokenizer = make(language)
    batch = tokenizer(["", " "], padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.full_like(batch["input_ids"], -100))
    assert output.logits.shape == (2, 1, len(LABELS))
    assert output.loss.item() == 0.0 and output.loss.requires_grad  # nothing to score: 0, as the CRF gives, not NaN
