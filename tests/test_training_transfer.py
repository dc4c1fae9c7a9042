"""Training after transfer (modeling_xlner/training/transfer.py): `xlner transfer`, shared bigrams, freezing, learning rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling_xlner import XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.cli import build_parser, main, training_options
from modeling_xlner.training.options import TransferOptions
from modeling_xlner.training.trainer import build_tokenizer
from modeling_xlner.training.transfer import (
    FreezeTransferredCallback,
    SourceAnchorCallback,
    add_source_bigrams,
    build_transferred_model,
    scaled_lr_optimizer_factory,
)

from test_transfer import P, english, english_dir, japanese_tokenizer, params, shared_rows, transfer  # noqa: F401 (fixtures)


# ---------------------------------------------------------------------------------- training


def write_span_data(path: Path, records: list[tuple[str, list[tuple[str, str]]]]) -> str:
    lines = []
    for text, entities in records:
        spans = [{"name": name, "span": [text.index(name), text.index(name) + len(name)], "type": kind} for name, kind in entities]
        lines.append(json.dumps({"text": text, "entities": spans}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


JA_RECORDS = [
    ("山田太郎は東京に住んでいる。", [("山田太郎", "人名"), ("東京", "地名")]),
    ("トヨタは愛知県の会社だ。", [("トヨタ", "法人名"), ("愛知県", "地名")]),
    ("東京タワーは港区にある。", [("東京タワー", "施設名"), ("港区", "地名")]),
    ("佐藤花子はソニーで働く。", [("佐藤花子", "人名"), ("ソニー", "法人名")]),
]


def test_xlner_transfer_end_to_end(english_dir, tmp_path):
    data = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    output = tmp_path / "out"
    main([
        "transfer", "--source", str(english_dir), "--lang", "ja", "--train", data, "--validation", data, "--test", data,
        "--modules", "char,classifier", "--output-dir", str(output), "--epochs", "2", "--batch-size", "2",
        "--shared-bigrams", "--freeze-transferred-epochs", "1", "--transferred-lr-scale", "0.5", "--seed", "7",
    ])  # fmt: skip
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    block = results["transfer"]
    assert block["source"] == str(english_dir) and block["modules"] == ["char", "context", "head"]
    assert block["rows_copied"]["head"] == [9, 9]
    copied, total = block["rows_copied"]["char"]
    english_bigrams = json.loads((english_dir / "bigram_vocab.json").read_text(encoding="utf-8"))
    assert copied == len(english_bigrams) and total > copied  # --shared-bigrams: every source bigram is in the target
    options = results["transfer_options"]
    assert options["shared_bigrams"] and options["freeze_transferred_epochs"] == 1 and options["transferred_lr_scale"] == 0.5
    assert "test" in results and results["language"] == "ja" and results["epochs_trained"] == 2
    saved = XLNerForTokenClassification.from_pretrained(output)
    assert saved.config.transferred_from == block  # one provenance record: the config's is results.json's


def test_shared_bigrams_append_the_source_bigrams(english_dir, japanese_tokenizer):
    extended = add_source_bigrams(japanese_tokenizer, str(english_dir))
    english_bigrams = json.loads((english_dir / "bigram_vocab.json").read_text(encoding="utf-8"))
    assert all(extended.bigram_to_id[b] == i for b, i in japanese_tokenizer.bigram_to_id.items())  # ids kept
    assert set(english_bigrams) <= set(extended.bigram_to_id)
    assert extended.word_to_id == japanese_tokenizer.word_to_id and extended.char_input == "romaji"
    model = transfer(english_dir, "char", extended)
    assert model.config.transferred_from["rows_copied"]["char"] == [len(english_bigrams), extended.bigram_vocab_size]


def test_freezing_keeps_copied_values_for_the_first_epochs(english_dir, japanese_tokenizer):
    model = transfer(english_dir, ["char", "head"], japanese_tokenizer, seed=0)
    model.train()
    report = model.transfer_report
    callback = FreezeTransferredCallback(model, report, epochs=1)
    bigrams = model.xlner.char.bigram_embeddings.weight
    copied = report.copied_rows[P + "char.bigram_embeddings.weight"]
    fresh = [row for row in range(bigrams.shape[0]) if row not in copied and row != 0]
    before = params(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.0)

    def step():
        optimizer.zero_grad()
        everything = torch.arange(bigrams.shape[0])
        char_ids = torch.stack([everything, everything.roll(1)], dim=-1).unsqueeze(0)  # every bigram row is used
        inputs = dict(input_ids=torch.ones(1, char_ids.shape[1], dtype=torch.long), char_ids=char_ids)
        inputs["shape_ids"] = torch.ones_like(inputs["input_ids"])
        model(**inputs, labels=torch.zeros_like(inputs["input_ids"])).loss.backward()
        optimizer.step()

    class State:
        epoch = 0.0

    callback.on_epoch_begin(None, State, None)
    step()
    after = params(model)
    name = P + "char.bigram_embeddings.weight"
    assert torch.equal(after[name][copied], before[name][copied])
    assert not torch.equal(after[name][fresh], before[name][fresh])
    assert torch.equal(after[P + "char.lstm.weight_hh_l0"], before[P + "char.lstm.weight_hh_l0"])
    assert not torch.equal(after[P + "context.lstm.weight_hh_l0"], before[P + "context.lstm.weight_hh_l0"])
    State.epoch = 1.0
    callback.on_epoch_begin(None, State, None)
    step()
    assert not torch.equal(params(model)[P + "char.lstm.weight_hh_l0"], after[P + "char.lstm.weight_hh_l0"])

    # the learning-rate scale: tensors copied whole (and the fully mapped head) get their own group
    optimizer = scaled_lr_optimizer_factory(report, 0.01, 0.1)(model)
    by_lr = {group["lr"]: {id(p) for p in group["params"]} for group in optimizer.param_groups}
    assert id(model.xlner.char.lstm.weight_ih_l0) in by_lr[0.001] and id(model.head.weight) in by_lr[0.001]
    assert id(bigrams) in by_lr[0.01] and id(model.xlner.context.lstm.weight_ih_l0) in by_lr[0.01]


def test_freezing_a_crf_head_keeps_only_the_copied_label_pairs(tmp_path, japanese_tokenizer):
    """A copied label's transitions to a fresh label train from the start."""
    from test_joint import save_english_model
    from test_transfer import JA_LABELS

    source_dir = save_english_model(tmp_path / "en", crf=True)
    labels = [*JA_LABELS, "B-病名", "I-病名"]  # left out by the label map: fresh rows and pairs
    model = transfer(source_dir, ["head"], japanese_tokenizer, seed=0, use_crf=True, id2label=dict(enumerate(labels)))
    callback = FreezeTransferredCallback(model, model.transfer_report, epochs=1)

    class State:
        epoch = 0.0

    callback.on_epoch_begin(None, State, None)
    transitions = model.head.crf.transitions
    transitions.sum().backward()
    copied = [index for index, label in enumerate(labels) if not label.endswith("病名")]  # by hand
    expected = torch.ones_like(transitions)
    expected[torch.tensor(copied)[:, None], torch.tensor(copied)] = 0
    assert torch.equal(transitions.grad, expected)
    assert expected[0, len(labels) - 1] == 1  # O → I-病名: a copied row, a fresh column


def test_source_anchor_pulls_copied_values_back_by_lr_times_strength(tmp_path, japanese_tokenizer):
    """L2-SP, decoupled: θ ← θ − lr·s·(θ − θ_source) on copied tensors and rows; fresh rows are left alone."""
    from test_joint import save_english_model

    source_dir = save_english_model(tmp_path / "en", crf=True)  # a CRF head, as the real English source's
    from test_transfer import JA_LABELS

    labels = [*JA_LABELS, "B-病名", "I-病名"]  # a type the label map leaves out: its head rows stay fresh
    model = transfer(source_dir, ["char", "head"], japanese_tokenizer, seed=0, use_crf=True, id2label=dict(enumerate(labels)))
    report = model.transfer_report
    callback = SourceAnchorCallback(model, report, strength=5.0)
    source = params(model)  # right after the copy, the copied values are the source's
    name = P + "char.bigram_embeddings.weight"
    copied = report.copied_rows[name]
    fresh = [row for row in range(source[name].shape[0]) if row not in copied]
    assert copied and fresh
    with torch.no_grad():  # as if an optimizer step had moved every value by +1
        for parameter in model.parameters():
            parameter.add_(1.0)

    class Scheduler:
        def get_last_lr(self):
            return [0.02]

    callback.on_step_end(None, None, None, lr_scheduler=Scheduler())
    after = params(model)
    # By hand: lr 0.02 x strength 5 = 0.1 of the distance (1.0) back, so copied values sit at source + 0.9.
    assert torch.allclose(after[name][copied], source[name][copied] + 0.9)
    assert torch.equal(after[name][fresh], source[name][fresh] + 1.0)
    lstm = P + "char.lstm.weight_hh_l0"  # copied whole
    assert torch.allclose(after[lstm], source[lstm] + 0.9)
    context = P + "context.lstm.weight_hh_l0"  # not transferred here (only the head of the classifier)
    assert torch.equal(after[context], source[context] + 1.0)
    transitions = "head.crf.transitions"
    # The CRF head: only the copied label pairs of its transitions are pulled.
    rows = torch.tensor(report.copied_rows[transitions])
    pulled = torch.zeros_like(after[transitions], dtype=torch.bool)
    pulled[rows[:, None], rows] = True
    assert pulled.any() and not pulled.all()
    assert torch.allclose(after[transitions][pulled], source[transitions][pulled] + 0.9)
    assert torch.equal(after[transitions][~pulled], source[transitions][~pulled] + 1.0)
    with pytest.raises(ValueError, match="source_anchor must be 0 or more"):
        TransferOptions(source_anchor=-1.0)


def test_build_transferred_model_uses_training_options(english_dir):
    import datasets

    train = datasets.Dataset.from_list(
        [{"text": text, "entities": [{"start": text.index(n), "end": text.index(n) + len(n), "type": t} for n, t in ents]} for text, ents in JA_RECORDS]
    )  # fmt: skip
    args = build_parser().parse_args(
        ["transfer", "--source", "x", "--modules", "char", "--lang", "ja", "--train", "t", "--validation", "v", "--output-dir", "o", "--char-input", "surface"]
    )  # fmt: skip
    assert args.modules == ("char",)
    model, tokenizer, _ = build_transferred_model(str(english_dir), train, "ja", training_options(args), TransferOptions(modules=args.modules))
    assert tokenizer.char_input == "surface" and model.config.word_vocab_size == tokenizer.vocab_size
    # kana bigrams share nothing with English letters but the specials (and word-boundary pairs of symbols)
    assert model.config.transferred_from["rows_copied"]["char"][0] < 5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["transfer", "--source", "x", "--modules", "char,wordz", "--lang", "ja", "--train", "t", "--validation", "v", "--output-dir", "o"])


def test_zero_fresh_word_starts_the_word_module_at_zero(english_dir):
    import datasets

    train = datasets.Dataset.from_list(
        [{"text": text, "entities": [{"start": text.index(n), "end": text.index(n) + len(n), "type": t} for n, t in ents]} for text, ents in JA_RECORDS]
    )  # fmt: skip
    args = build_parser().parse_args(
        ["transfer", "--source", "x", "--modules", "char,classifier", "--lang", "ja", "--train", "t", "--validation", "v", "--output-dir", "o", "--zero-fresh-word"]
    )  # fmt: skip
    transfer_options = TransferOptions(modules=args.modules, zero_fresh_word=args.zero_fresh_word)
    model, _, _ = build_transferred_model(str(english_dir), train, "ja", training_options(args), transfer_options)
    word = model.xlner.word
    assert word.embeddings.weight.abs().sum() == 0
    assert word.pos_embeddings is None or word.pos_embeddings.weight.abs().sum() == 0
    assert word.vector_projection is None or word.vector_projection.weight.abs().sum() == 0
    source = XLNerForTokenClassification.from_pretrained(english_dir)
    assert torch.equal(model.xlner.context.lstm.weight_ih_l0, source.xlner.context.lstm.weight_ih_l0)  # copies untouched
    fresh, _, _ = build_transferred_model(str(english_dir), train, "ja", training_options(args), TransferOptions(modules=args.modules))
    assert fresh.xlner.word.embeddings.weight.abs().sum() > 0
    with pytest.raises(ValueError, match="`word` is transferred"):
        build_transferred_model(str(english_dir), train, "ja", training_options(args), TransferOptions(modules="word,char", zero_fresh_word=True))


# ---------------------------------------------------------------------------------- input switches (ablation)


def test_char_and_word_input_switches_change_the_features_end_to_end(tmp_path):
    """--char-input / --word-input reach the tokenizer built for training, and survive saving."""
    import datasets

    texts = [record[0] for record in JA_RECORDS]
    train = datasets.Dataset.from_dict({"text": texts, "entities": [[] for _ in texts]})
    common = ["train", "--lang", "ja", "--train", "t", "--validation", "v", "--output-dir", "o"]
    tokenizers = {}
    for char_input, word_input in [("romaji", "surface"), ("surface", "surface"), ("romaji", "romaji")]:
        args = build_parser().parse_args([*common, "--char-input", char_input, "--word-input", word_input])
        tokenizer = build_tokenizer(train, "ja", training_options(args))
        tokenizer.save_pretrained(tmp_path / f"{char_input}-{word_input}")
        tokenizers[char_input, word_input] = XLNerTokenizer.from_pretrained(tmp_path / f"{char_input}-{word_input}")
    text = "山田太郎は東京に住んでいる。"
    romaji, surface, romaji_words = (tokenizers[key] for key in [("romaji", "surface"), ("surface", "surface"), ("romaji", "romaji")])
    assert surface.char_input == "surface" and romaji_words.word_input == "romaji"
    # romaji bigrams are Latin letters, surface bigrams are Japanese characters: different char_ids
    assert romaji(text)["char_ids"] != surface(text)["char_ids"]
    letters = set("".join(b for b in romaji.bigram_to_id if not b.startswith("<")))
    assert "t" in letters and "東" not in letters
    assert "東" in "".join(surface.bigram_to_id)
    # same words, same word ids with the surface word input; romaji word keys for --word-input romaji
    assert romaji(text)["input_ids"] == surface(text)["input_ids"]
    assert "toukyou" in romaji_words.word_to_id and "東京" in romaji.word_to_id
    assert romaji(text)["char_ids"] == romaji_words(text)["char_ids"]


def test_frozen_transfer_through_trainer_leaves_copied_values_untouched(english, english_dir, tmp_path):
    data = write_span_data(tmp_path / "train.jsonl", JA_RECORDS)
    output = tmp_path / "frozen"
    main([
        "transfer", "--source", str(english_dir), "--lang", "ja", "--train", data, "--validation", data,
        "--modules", "char", "--output-dir", str(output), "--epochs", "1", "--batch-size", "2", "--freeze-transferred-epochs", "1",
    ])  # fmt: skip
    source_model, source_tokenizer = english
    source, trained = params(source_model), load_file(output / "model.safetensors")
    target_tokenizer = XLNerTokenizer.from_pretrained(output)
    for name in source:
        if name.startswith((P + "char.lstm.", P + "char.shape_embeddings.")):
            assert torch.equal(trained[name], source[name]), name
    name = P + "char.bigram_embeddings.weight"
    for target_row, source_row in shared_rows(source_tokenizer.bigram_to_id, target_tokenizer.bigram_to_id):
        assert torch.equal(trained[name][target_row], source[name][source_row])
    fresh = transfer(english_dir, "char", target_tokenizer, seed=42)  # the same initial model (seed = --seed default)
    assert not torch.equal(trained[P + "context.lstm.weight_ih_l0"], params(fresh)[P + "context.lstm.weight_ih_l0"])
