"""Joint training (modeling_xlner/training/joint.py): single-language batches, what each language trains, a tiny run, errors."""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from transformers import DataCollatorForTokenClassification

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.cli import main
from modeling_xlner.training.evaluation import encode_split, tagging_pipeline
from modeling_xlner.training.joint import (
    JointBatchSampler, JointCollator, JointDataset, JointTagger, english_tokenizer, joint_transfer_options,
)  # fmt: skip
from modeling_xlner.training.options import TrainingOptions, TransferOptions
from modeling_xlner.training.transfer import add_source_bigrams, transfer

from test_training_transfer import JA_RECORDS, write_span_data
from test_transfer import EN_LABELS, EN_TEXTS, JA_LABELS, JA_TEXTS, SMALL

EN_SENTENCES = [
    [("Yamada", "B-PER"), ("Taro", "I-PER"), ("visited", "O"), ("Tokyo", "B-LOC"), (".", "O")],
    [("Sony", "B-ORG"), ("is", "O"), ("in", "O"), ("Japan", "B-LOC"), (".", "O")],
    [("Toyota", "B-ORG"), ("and", "O"), ("Honda", "B-ORG"), ("make", "O"), ("cars", "O"), (".", "O")],
    [("Sato", "B-PER"), ("said", "O"), ("so", "O"), (".", "O")],
    [("The", "O"), ("Tokyo", "B-MISC"), ("Tower", "I-MISC"), ("is", "O"), ("tall", "O")],
    [("Hello", "O")],
]


def write_conll(path: Path, sentences) -> str:
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")
    return str(path)


def save_english_model(directory: Path, crf: bool) -> Path:
    """A tiny random English model with pretrained vectors (the English word module's own table)."""
    vectors = {word: row for row, word in enumerate(["tokyo", "japan", "sony", "the", "is"], start=1)}
    tokenizer = XLNerTokenizer.from_corpus(EN_TEXTS, language="en", vector_vocab=vectors)
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size, use_crf=crf,
        vector_vocab_size=tokenizer.vector_vocab_size, vector_dim=3, id2label=dict(enumerate(EN_LABELS)), **SMALL,
    )  # fmt: skip
    torch.manual_seed(0)
    model = XLNerForTokenClassification(config)
    with torch.no_grad():
        model.xlner.word.vectors[1:].normal_()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def english_dir(tmp_path_factory) -> Path:
    return save_english_model(tmp_path_factory.mktemp("english-joint"), crf=True)  # as the real English source


@pytest.fixture(scope="module", params=[True, False], ids=["crf", "softmax"])
def joint(request, tmp_path_factory) -> tuple[JointTagger, XLNerTokenizer, Path]:
    """A Japanese target with char and classifier from an English source, in a `JointTagger`; its tokenizer; the source."""
    source = save_english_model(tmp_path_factory.mktemp("english"), crf=request.param)
    tokenizer = add_source_bigrams(XLNerTokenizer.from_corpus(JA_TEXTS, language="ja", part_of_speech=True), str(source))
    target = XLNerForTokenClassification.from_pretrained(
        source, transfer_modules="char,classifier", tokenizer=tokenizer, id2label=dict(enumerate(JA_LABELS)), seed=0
    )
    return JointTagger.from_source(target, str(source)).train(), tokenizer, source


# ---------------------------------------------------------------------------------- batches


def test_joint_batches_are_single_language_with_the_ratio_counts():
    japanese, english = [3, 5, 2, 7, 1, 4, 6, 2, 3, 5], [4, 2, 6, 3, 5, 1, 2]  # lengths
    sampler = JointBatchSampler(japanese, english, batch_size=2, ratio=1.5, seed=0)
    assert (sampler.japanese_batches, sampler.english_batches, len(sampler)) == (5, 8, 13)  # 8 = round(1.5 × 5)
    epochs = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert batches == list(sampler)  # drawn from (seed, epoch)
        epochs.append(batches)
        kinds = [{index < len(japanese) for index in batch} for batch in batches]
        assert all(len(kind) == 1 for kind in kinds)  # one language per batch
        japanese_batches = [b for b, kind in zip(batches, kinds) if kind == {True}]
        english_batches = [b for b, kind in zip(batches, kinds) if kind == {False}]
        assert len(japanese_batches) == 5 and len(english_batches) == 8
        assert sorted(i for b in japanese_batches for i in b) == list(range(10))  # every Japanese sentence once
        # 8 English batches of 2 (one of 1 per pass over 7 sentences): two passes, each sentence twice
        assert Counter(i for b in english_batches for i in b) == {10 + i: 2 for i in range(7)}
        assert {kind == {True} for kind in kinds[:6]} == {True, False}  # languages interleaved, not in blocks
    assert epochs[0] != epochs[1]  # the permutation varies with the epoch
    assert len(JointBatchSampler(japanese, english, 2, 0.4, 0)) == 5 + 2


def test_joint_data_loader_pads_each_language_alone(joint):
    model, tokenizer, english_dir = joint
    label2id = {label: i for i, label in enumerate(EN_LABELS)}
    english_rows = datasets.Dataset.from_list([{"tokens": [w for w, _ in s], "ner_tags": [t for _, t in s]} for s in EN_SENTENCES])
    english = encode_split(english_rows, english_tokenizer(str(english_dir), tokenizer), label2id, "en").features
    japanese_rows = datasets.Dataset.from_list([{"text": text, "entities": []} for text in JA_TEXTS])
    japanese = encode_split(japanese_rows, tokenizer, model.target.config.label2id, "ja").features
    sampler = JointBatchSampler(japanese["length"], english["length"], 2, 1.0, seed=1)
    collator = JointCollator(DataCollatorForTokenClassification(tokenizer))
    loader = DataLoader(JointDataset(japanese, english), batch_sampler=sampler, collate_fn=collator)
    batches = list(loader)
    assert Counter(batch["language"] for batch in batches) == {"ja": 2, "en": 2}
    for batch in batches:
        assert ("pos_ids" in batch) == (batch["language"] == "ja")  # Japanese parts of speech; English vectors
        assert ("vector_ids" in batch) == (batch["language"] == "en")
        assert "length" not in batch
    with pytest.raises(ValueError, match="one language"):
        JointCollator(lambda items: items)([{"language": "ja"}, {"language": "en"}])


# ---------------------------------------------------------------------------------- what each language trains


def _batch(tokenizer: XLNerTokenizer, texts, labels, split: bool) -> dict:
    encoding = tokenizer(texts, is_split_into_words=split, padding=True, return_tensors="pt")
    encoding["labels"] = torch.tensor(labels)
    return {key: value for key, value in encoding.items() if key != "offset_mapping"}


def _grads(model: JointTagger) -> dict[str, torch.Tensor | None]:
    return {name: parameter.grad for name, parameter in model.named_parameters()}


def _nonzero(grad: torch.Tensor | None) -> bool:
    return grad is not None and bool(grad.abs().sum() > 0)


def test_an_english_batch_trains_the_shared_and_english_parts_only(joint):
    model, tokenizer, english_dir = joint
    english = _batch(english_tokenizer(str(english_dir), tokenizer), [["Sony", "visited", "Tokyo"]], [[5, 0, 1]], split=True)
    assert english["char_ids"].max() < model.target.config.bigram_vocab_size  # bigram ids in the target's vocabulary
    assert english["vector_ids"].max() > 0  # the English vectors are read
    model.zero_grad(set_to_none=True)
    model(**english, language="en").loss.backward()
    grads = _grads(model)
    for name in ("target.xlner.char.lstm.weight_ih_l0", "target.xlner.char.bigram_embeddings.weight",
                 "target.xlner.context.lstm.weight_ih_l0", "english_word.embeddings.weight",
                 "english_word.vector_projection.weight", "english_head.weight", "english_head.bias"):  # fmt: skip
        assert _nonzero(grads[name]), name
    assert (model.english_head.crf is None) or _nonzero(grads["english_head.crf.transitions"])
    assert all(grad is None for name, grad in grads.items() if name.startswith(("target.xlner.word.", "target.head.")))
    # the swap is undone: the target has its own parts again, and each tensor one name in the state dict
    assert model.target.head is not model.english_head and model.target.xlner.word is not model.english_word
    assert model.target.num_labels == len(JA_LABELS)
    assert not any(key.startswith("target.") and "english" in key for key in model.state_dict())

    japanese = _batch(tokenizer, [JA_TEXTS[1]], [[0] * len(tokenizer(JA_TEXTS[1])["input_ids"])], split=False)
    model.zero_grad(set_to_none=True)
    model(**japanese).loss.backward()
    grads = _grads(model)
    assert all(grad is None for name, grad in grads.items() if name.startswith(("english_word.", "english_head.")))
    for name in ("target.xlner.word.embeddings.weight", "target.head.weight", "target.xlner.char.lstm.weight_ih_l0"):
        assert _nonzero(grads[name]), name


def test_an_english_step_leaves_the_japanese_word_module_and_head(joint):
    model, tokenizer, english_dir = joint
    before = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    english = _batch(english_tokenizer(str(english_dir), tokenizer), [["Toyota", "and", "Honda"]], [[5, 0, 5]], split=True)
    optimizer.zero_grad(set_to_none=True)
    model(**english, language="en").loss.backward()
    optimizer.step()
    after = model.state_dict()
    for name in before:
        changed = not torch.equal(before[name], after[name])
        if name.startswith(("target.xlner.word.", "target.head.")):
            assert not changed, name
        elif name in (
            "target.xlner.char.lstm.weight_hh_l0", "target.xlner.context.lstm.weight_hh_l0",
            "english_head.weight", "english_word.embeddings.weight",
        ):  # fmt: skip
            assert changed, name


# ---------------------------------------------------------------------------------- a run, errors


def test_a_tiny_joint_run_saves_a_japanese_model_that_tags(english_dir, tmp_path, monkeypatch):
    epochs, languages = [], Counter()
    set_epoch, forward = JointBatchSampler.set_epoch, JointTagger.forward

    def spy_set_epoch(self, epoch):
        epochs.append(epoch)
        set_epoch(self, epoch)

    @functools.wraps(forward)  # Trainer reads the signature
    def spy_forward(self, *args, language="ja", **kwargs):
        languages[language, self.training] += 1
        return forward(self, *args, language=language, **kwargs)

    monkeypatch.setattr(JointBatchSampler, "set_epoch", spy_set_epoch)
    monkeypatch.setattr(JointTagger, "forward", spy_forward)
    japanese = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    english = write_conll(tmp_path / "en.txt", EN_SENTENCES)
    output = tmp_path / "out"
    main([
        "transfer", "--source", str(english_dir), "--lang", "ja", "--train", japanese, "--validation", japanese,
        "--test", japanese, "--modules", "char,classifier", "--joint-data", english, "--joint-ratio", "2",
        "--epochs", "2", "--batch-size", "2", "--vectors", "none", "--output-dir", str(output), "--seed", "3",
        "--transferred-lr-scale", "0.5", "--freeze-transferred-epochs", "1",  # their hooks and groups are the target's
    ])  # fmt: skip
    assert sorted(set(epochs)) == [0, 1]  # Trainer reaches the sampler (accelerate too): each epoch its own batches
    assert languages[("ja", True)] == 2 * 2 and languages[("en", True)] == 2 * 4  # training batches of 2 epochs
    assert languages[("ja", False)] > 0 and languages[("en", False)] == 0  # evaluation is Japanese
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    options = results["transfer_options"]
    assert options["joint_data"] == english and options["joint_ratio"] == 2 and options["shared_bigrams"]
    assert options["joint"] == {
        "english_sentences": 6, "japanese_batches_per_epoch": 2, "english_batches_per_epoch": 4, "batch_size": 2,
    }  # fmt: skip
    assert results["language"] == "ja" and results["epochs_trained"] == 2 and "test" in results
    weights = load_file(output / "model.safetensors")
    assert not any(key.startswith(("english_", "target.")) for key in weights)  # the Japanese target only
    model, tokenizer = XLNerForTokenClassification.from_pretrained(output), XLNerTokenizer.from_pretrained(output)
    assert model.config.id2label[1].startswith("B-") and set(model.config.label2id) != set(EN_LABELS)
    assert model.config.transferred_from["modules"] == ["char", "context", "head"]
    entities = tagging_pipeline(model, tokenizer)(JA_RECORDS[0][0])
    assert isinstance(entities, list) and all(entity["entity"] in model.config.label2id for entity in entities)


def test_joint_then_finetune_trains_every_module_of_the_joint_model_on_japanese(english_dir, tmp_path):
    japanese = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    english = write_conll(tmp_path / "en.txt", EN_SENTENCES)
    output = tmp_path / "out"
    main([
        "transfer", "--source", str(english_dir), "--lang", "ja", "--train", japanese, "--validation", japanese,
        "--test", japanese, "--modules", "char,classifier", "--joint-data", english, "--joint-finetune",
        "--epochs", "1", "--batch-size", "2", "--vectors", "none", "--output-dir", str(output), "--seed", "3",
    ])  # fmt: skip
    joint = json.loads((output / "joint" / "results.json").read_text(encoding="utf-8"))
    assert joint["transfer_options"]["joint_data"] == english and not joint["transfer_options"]["joint_finetune"]
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    assert results["transfer_options"]["joint_data"] is None  # the second stage is Japanese alone
    stage = results["transfer_options"]["joint_stage"]
    assert stage["output_dir"] == str(output / "joint") and stage["test_f1"] == joint["test"]["f1"]
    model = XLNerForTokenClassification.from_pretrained(output)
    assert model.config.transferred_from["source"] == str(output / "joint")
    assert model.config.transferred_from["modules"] == ["word", "char", "context", "head"]
    # Oracle: English-only bigram rows (appended last; trained by the joint stage's English batches) get no
    # Japanese gradient, so they are the joint model's bit for bit; the Japanese rows moved.
    joint_weights, weights = load_file(output / "joint" / "model.safetensors"), load_file(output / "model.safetensors")
    assert set(joint_weights) == set(weights)
    key = "xlner.char.bigram_embeddings.weight"
    assert torch.equal(weights[key][-10:], joint_weights[key][-10:]) and not torch.equal(weights[key], joint_weights[key])
    with pytest.raises(ValueError, match="joint_finetune.*--joint-data"):
        TransferOptions(joint_finetune=True)


def test_joint_data_errors(english_dir, tmp_path):
    def check(path: str) -> TransferOptions:
        return joint_transfer_options(str(english_dir), TransferOptions(joint_data=path))

    with pytest.raises(FileNotFoundError, match="joint_data.*nope.txt"):
        check(str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="English word data"):
        check(write_span_data(tmp_path / "ja.jsonl", JA_RECORDS))
    with pytest.raises(ValueError, match="mostly Japanese"):
        check(write_conll(tmp_path / "ja.txt", [[("山田", "B-人名"), ("太郎", "I-人名"), ("は", "O")]]))
    with pytest.raises(ValueError, match="B-EVENT.*not labels of the source"):
        check(write_conll(tmp_path / "events.txt", [[("Olympics", "B-EVENT"), ("2020", "I-EVENT")]]))
    XLNerConfig(language="ja").save_pretrained(tmp_path / "japanese-source")
    with pytest.raises(ValueError, match="'ja' model; its word module and head must be English"):
        joint_transfer_options(str(tmp_path / "japanese-source"), TransferOptions(joint_data=write_conll(tmp_path / "en.txt", EN_SENTENCES)))
    with pytest.raises(ValueError, match="joint_ratio"):
        TransferOptions(joint_data="en.txt", joint_ratio=0)
    assert check(write_conll(tmp_path / "en.txt", EN_SENTENCES)).shared_bigrams  # English word data: accepted
    # through the Python API: the error comes before any model is built
    japanese = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    with pytest.raises(FileNotFoundError, match="joint_data"):
        transfer(
            str(english_dir), "ja", japanese, japanese, tmp_path / "out", TrainingOptions(vectors=None),
            TransferOptions(joint_data="missing.txt"),
        )  # fmt: skip
    assert not (tmp_path / "out").exists()
