"""Module-selective transfer (modeling_xlner/transfer_xlner.py): from_pretrained(transfer_modules=...), alignment, errors, remote code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerModel, XLNerTokenizer
from modeling_xlner.transfer_xlner import DEFAULT_LABEL_MAP, align_labels, resolve_modules

EN_LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
JA_TYPES = ["人名", "地名", "法人名", "施設名"]
JA_LABELS = ["O"] + [f"{prefix}-{name}" for name in sorted(JA_TYPES) for prefix in ("B", "I")]
EN_TEXTS = [
    "Yamada Taro of Sony visited Tokyo in 1996 .",
    "The Tokyo Tower is in Japan , said Sato .",
    "Toyota and Honda make cars .",
]
JA_TEXTS = [
    "山田太郎は1996年にSonyの東京本社を訪れた。",
    "東京タワーは東京都港区にある。",
    "トヨタとホンダは自動車を作る。",
]
SMALL = dict(word_embedding_dim=8, bigram_embedding_dim=6, shape_embedding_dim=4, char_hidden_size=5, context_hidden_size=7)
P = "xlner."  # parameter prefix of the base model inside XLNerForTokenClassification


@pytest.fixture(scope="module")
def english_dir(tmp_path_factory) -> Path:
    """A tiny (untrained, randomly initialised) English model saved with its tokenizer and remote code."""
    directory = tmp_path_factory.mktemp("english")
    tokenizer = XLNerTokenizer.from_corpus(EN_TEXTS, language="en")
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size,
        bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=dict(enumerate(EN_LABELS)),
        **SMALL,
    )
    torch.manual_seed(0)
    XLNerForTokenClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def english(english_dir):
    return XLNerForTokenClassification.from_pretrained(english_dir), XLNerTokenizer.from_pretrained(english_dir)


@pytest.fixture(scope="module")
def japanese_tokenizer() -> XLNerTokenizer:
    return XLNerTokenizer.from_corpus(JA_TEXTS, language="ja")


def transfer(english_dir, modules, tokenizer, **kwargs) -> XLNerForTokenClassification:
    kwargs.setdefault("id2label", dict(enumerate(JA_LABELS)))
    return XLNerForTokenClassification.from_pretrained(english_dir, transfer_modules=modules, tokenizer=tokenizer, **kwargs)


def params(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def shared_rows(source_vocab, target_vocab) -> list[tuple[int, int]]:
    return sorted((index, source_vocab[token]) for token, index in target_vocab.items() if token in source_vocab)


# ---------------------------------------------------------------------------------- what is copied


def test_char_and_classifier_copy_exactly_the_aligned_parameters(english, english_dir, japanese_tokenizer):
    source_model, source_tokenizer = english
    source = params(source_model)
    model = transfer(english_dir, ["char", "classifier"], japanese_tokenizer, seed=0)
    target = params(model)

    # whole tensors: the char and context bi-LSTMs and the shape embedding
    for name in source:
        if name.startswith((P + "char.lstm.", P + "char.shape_embeddings.", P + "context.")):
            torch.testing.assert_close(target[name], source[name], rtol=0, atol=0)
    # bigram rows: exactly the bigrams both vocabularies have (romaji vs English); the rest fresh
    name = P + "char.bigram_embeddings.weight"
    pairs = shared_rows(source_tokenizer.bigram_to_id, japanese_tokenizer.bigram_to_id)
    assert len(pairs) > 5  # romaji and English share letter bigrams
    for target_row, source_row in pairs:
        assert torch.equal(target[name][target_row], source[name][source_row])
    copied = {t for t, _ in pairs}
    fresh = [row for row in range(len(japanese_tokenizer.bigram_to_id)) if row not in copied]
    assert fresh and all(not any(torch.equal(target[name][r], s) for s in source[name]) for r in fresh)
    # the word module was not transferred: fresh, and the target vocabulary's size
    assert target[P + "word.embeddings.weight"].shape[0] == japanese_tokenizer.vocab_size
    for target_row, source_row in shared_rows(source_tokenizer.word_to_id, japanese_tokenizer.word_to_id)[2:]:
        assert not torch.equal(target[P + "word.embeddings.weight"][target_row], source[P + "word.embeddings.weight"][source_row])
    # head rows through the default label map: B-人名 ← B-PER, I-地名 ← I-LOC, 施設名 ← MISC, O ← O
    for target_label, source_label in [("O", "O"), ("B-人名", "B-PER"), ("I-地名", "I-LOC"), ("B-施設名", "B-MISC"), ("I-法人名", "I-ORG")]:
        t, s = model.config.label2id[target_label], source_model.config.label2id[source_label]
        assert torch.equal(target["head.weight"][t], source["head.weight"][s])
        assert torch.equal(target["head.bias"][t], source["head.bias"][s])

    record = model.config.transferred_from
    assert record["source"] == str(english_dir)
    assert record["modules"] == ["char", "context", "head"]
    assert record["rows_copied"] == {"char": [len(pairs), japanese_tokenizer.bigram_vocab_size], "head": [9, 9]}
    assert record["label_map"] == {name: DEFAULT_LABEL_MAP[name] for name in JA_TYPES}
    assert model.config.language == "ja" and model.config.id2label == dict(enumerate(JA_LABELS))
    assert model.config.label2id == {label: i for i, label in enumerate(JA_LABELS)}


def test_word_transfer_copies_rows_of_shared_words_only(english, english_dir, japanese_tokenizer):
    source_model, source_tokenizer = english
    source, target = params(source_model), params(transfer(english_dir, "word", japanese_tokenizer, seed=0))
    name = P + "word.embeddings.weight"
    pairs = shared_rows(source_tokenizer.word_to_id, japanese_tokenizer.word_to_id)
    tokens = {token for token in japanese_tokenizer.word_to_id if token in source_tokenizer.word_to_id}
    assert {"sony", "0000"} <= tokens  # Latin names and (digit-folded) numbers are shared
    for target_row, source_row in pairs:
        assert torch.equal(target[name][target_row], source[name][source_row])
    copied = {t for t, _ in pairs}
    assert any(row not in copied for row in range(japanese_tokenizer.vocab_size))
    for row in range(japanese_tokenizer.vocab_size):
        if row not in copied:
            assert not any(torch.equal(target[name][row], s) for s in source[name])
    for other in (P + "char.lstm.weight_ih_l0", P + "context.lstm.weight_hh_l0"):
        assert not torch.equal(target[other], source[other])


def test_classifier_is_context_plus_head(english_dir, japanese_tokenizer):
    assert resolve_modules("classifier") == ("context", "head")
    assert resolve_modules(["head", "classifier", "char"]) == ("char", "context", "head")
    alias = params(transfer(english_dir, "classifier", japanese_tokenizer, seed=3))
    spelled = params(transfer(english_dir, ["context", "head"], japanese_tokenizer, seed=3))
    assert alias.keys() == spelled.keys()
    assert all(torch.equal(alias[name], spelled[name]) for name in alias)


def test_fresh_modules_follow_the_seed(english_dir, japanese_tokenizer):
    first = params(transfer(english_dir, "char", japanese_tokenizer, seed=1))
    again = params(transfer(english_dir, "char", japanese_tokenizer, seed=1))
    other = params(transfer(english_dir, "char", japanese_tokenizer, seed=2))
    name = P + "context.lstm.weight_ih_l0"
    assert torch.equal(first[name], again[name]) and not torch.equal(first[name], other[name])


def test_label_mapping_on_a_hand_made_example(english, english_dir, japanese_tokenizer, tmp_path):
    source = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    target = {0: "B-PERSON", 1: "I-PERSON", 2: "O", 3: "B-CITY", 4: "I-CITY", 5: "B-LOC", 6: "I-LOC"}
    pairs, used = align_labels(source, target, {"PERSON": "PER"})
    # prefixes kept, O → O; CITY is left out of the map and LOC is not named, so both stay fresh
    assert pairs == [(0, 1), (1, 2), (2, 0)] and used == {"PERSON": "PER"}
    # without a map: same-named types, then the default Japanese → CoNLL map
    pairs, used = align_labels(source, {0: "O", 1: "B-LOC", 2: "B-人名", 3: "B-製品名"})
    assert pairs == [(0, 0), (1, 3), (2, 1)] and used == {"LOC": "LOC", "人名": "PER"}

    # a JSON label-map file through from_pretrained: only the named type gets source rows
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"施設名": "LOC"}, ensure_ascii=False), encoding="utf-8")
    source_model = english[0]
    model = transfer(english_dir, "head", japanese_tokenizer, label_map=str(path), seed=0)
    head, source_head = model.head.weight.detach(), source_model.head.weight.detach()
    assert torch.equal(head[model.config.label2id["I-施設名"]], source_head[source_model.config.label2id["I-LOC"]])
    assert not torch.equal(head[model.config.label2id["B-人名"]], source_head[source_model.config.label2id["B-PER"]])
    assert model.config.transferred_from["rows_copied"] == {"head": [3, 9]}


# ---------------------------------------------------------------------------------- errors


def test_different_dimensions_of_a_transferred_module_are_an_error(english_dir, japanese_tokenizer):
    with pytest.raises(ValueError, match=r"module 'context'.*context_hidden_size \(source 7, target 9\)"):
        transfer(english_dir, ["context"], japanese_tokenizer, context_hidden_size=9)
    with pytest.raises(ValueError, match=r"module 'head'.*context_hidden_size"):
        transfer(english_dir, ["char", "head"], japanese_tokenizer, context_hidden_size=9)
    with pytest.raises(ValueError, match=r"module 'char'.*char_hidden_size"):
        transfer(english_dir, ["char"], japanese_tokenizer, char_hidden_size=3)
    # a module that is not transferred may change shape
    model = transfer(english_dir, ["char"], japanese_tokenizer, context_hidden_size=9)
    assert model.head.weight.shape == (len(JA_LABELS), 18)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(transfer_modules=["char", "encoder"]), "unknown module 'encoder'"),
        (dict(transfer_modules=["head"], label_map={"人名": "PERSON"}), r"source types \['PERSON'\] are not labels of the source"),
        (dict(transfer_modules=["head"], label_map={"B-人名": "PER"}), r"target types \['B-人名'\] are not labels of the target"),
        (dict(transfer_modules=["char"], label_map={"人名": "PER"}), "needs `head`"),
        (dict(transfer_modules=["char"], tokenizer=None), "pass the target `tokenizer`"),
        (dict(transfer_modules="word,head", tokenizer=None), "transferring word aligns vocabularies"),
        (dict(transfer_modules=None, label_map={"人名": "PER"}), "only apply with `transfer_modules`"),
    ],
)
def test_invalid_transfers_raise(english_dir, japanese_tokenizer, kwargs, message):
    kwargs = {"tokenizer": japanese_tokenizer, "id2label": dict(enumerate(JA_LABELS)), **kwargs}
    with pytest.raises(ValueError, match=message):
        XLNerForTokenClassification.from_pretrained(english_dir, **kwargs)


def test_head_needs_a_model_with_a_head(english_dir, japanese_tokenizer):
    with pytest.raises(ValueError, match="XLNerModel has no head"):
        XLNerModel.from_pretrained(english_dir, transfer_modules="classifier", tokenizer=japanese_tokenizer)
    encoder = XLNerModel.from_pretrained(english_dir, transfer_modules="char,context", tokenizer=japanese_tokenizer)
    assert encoder.config.transferred_from["modules"] == ["char", "context"]


def test_a_checkpoint_without_the_module_is_an_error(english_dir, japanese_tokenizer, tmp_path):
    bare = tmp_path / "bare"
    XLNerModel.from_pretrained(english_dir).save_pretrained(bare)
    XLNerTokenizer.from_pretrained(english_dir).save_pretrained(bare)
    with pytest.raises(ValueError, match=r"no weights for \['head.bias', 'head.weight'\]"):
        transfer(bare, ["head"], japanese_tokenizer)


# ---------------------------------------------------------------------------------- remote code


def test_auto_model_with_remote_code_transfers(english_dir, japanese_tokenizer, tmp_path):
    """The saved folder alone (its copied code, no xlner package imported) is enough to transfer."""
    tokenizer_dir, output = tmp_path / "ja_tokenizer", tmp_path / "transferred"
    japanese_tokenizer.save_pretrained(tokenizer_dir)
    script = textwrap.dedent(
        """
        import json, sys
        from transformers import AutoModelForTokenClassification
        source, tokenizer, output, labels = sys.argv[1:]
        model = AutoModelForTokenClassification.from_pretrained(
            source, trust_remote_code=True, transfer_modules="char,head", tokenizer=tokenizer,
            id2label=dict(enumerate(json.loads(labels))), seed=0,
        )
        assert "xlner" not in sys.modules and "modeling_xlner" not in sys.modules
        model.save_pretrained(output)
        print(json.dumps({"module": type(model).__module__, "transferred_from": model.config.transferred_from}))
        """
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_WAIT_POLICY": "PASSIVE"}
    completed = subprocess.run(
        [sys.executable, "-c", script, str(english_dir), str(tokenizer_dir), str(output), json.dumps(JA_LABELS)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert answer["module"].startswith("transformers_modules.")
    in_process = transfer(english_dir, "char,head", japanese_tokenizer, seed=0)
    assert answer["transferred_from"]["rows_copied"] == in_process.config.transferred_from["rows_copied"]
    remote = load_file(output / "model.safetensors")
    local = params(in_process)
    assert remote.keys() == local.keys()
    assert all(torch.equal(remote[name], local[name]) for name in local)
    assert (output / "transfer_xlner.py").is_file()  # the transfer code travels with every saved model


# ---------------------------------------------------------------------------------- CRF heads and new inputs


def test_a_crf_head_transfers_its_label_mapped_transitions(tmp_path):
    """Transition scores follow the label map on both axes; start and end scores row by row; the rest is fresh."""
    tokenizer = XLNerTokenizer.from_corpus(EN_TEXTS, language="en")
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size,
        id2label=dict(enumerate(EN_LABELS)), use_crf=True, **SMALL,
    )  # fmt: skip
    torch.manual_seed(0)
    source = XLNerForTokenClassification(config)
    with torch.no_grad():  # distinct values everywhere: transitions[i, j] = 10 i + j
        source.head.crf.transitions.copy_(torch.arange(81.0).view(9, 9) + torch.arange(9.0)[:, None])
        source.head.crf.start_transitions.copy_(torch.arange(9.0) + 100)
        source.head.crf.end_transitions.copy_(torch.arange(9.0) + 200)
    source.save_pretrained(tmp_path / "en")
    tokenizer.save_pretrained(tmp_path / "en")
    # Target labels: O, B-人名, I-人名, B-病名, I-病名; 人名 → PER by the default map, 病名 (disease) unmapped.
    target_labels = {0: "O", 1: "B-人名", 2: "I-人名", 3: "B-病名", 4: "I-病名"}
    model = XLNerForTokenClassification.from_pretrained(
        tmp_path / "en", transfer_modules="head", id2label=target_labels, use_crf=True, seed=0
    )
    source_of = {0: 0, 1: 7, 2: 8}  # target id -> source id: O, B-PER, I-PER (by hand)
    transitions = model.head.crf.transitions.detach()
    for i in range(5):
        for j in range(5):
            if i in source_of and j in source_of:
                expected = source.head.crf.transitions[source_of[i], source_of[j]].item()
                assert transitions[i, j].item() == expected, (i, j)
            else:
                assert transitions[i, j].item() == 0.0, (i, j)  # fresh CRF scores start at zero
    assert model.head.crf.start_transitions.tolist() == [100.0, 107.0, 108.0, 0.0, 0.0]
    assert model.head.crf.end_transitions.tolist() == [200.0, 207.0, 208.0, 0.0, 0.0]
    # The constraint is the target's own: I-病名 cannot follow B-人名.
    assert model.head.crf.decode(torch.zeros(1, 2, 5), torch.ones(1, 2)) != [[1, 4]]
    with pytest.raises(ValueError, match=r"use_crf \(source True, target False\)"):
        XLNerForTokenClassification.from_pretrained(
            tmp_path / "en", transfer_modules="head", id2label=target_labels, use_crf=False, seed=0
        )


def test_char_transfer_leaves_a_target_only_channel_fresh(english_dir, english):
    """An English source has no Japanese-character channel: `char` copies the romaji part, the channel stays fresh."""
    tokenizer = XLNerTokenizer.from_corpus(JA_TEXTS, language="ja", char_input="romaji+surface")
    model = transfer(english_dir, "char", tokenizer, seed=0)
    source = english[0]
    assert model.xlner.char.surface_lstm is not None
    assert torch.equal(model.xlner.char.lstm.weight_hh_l0, source.xlner.char.lstm.weight_hh_l0)
    assert not any(name.startswith("xlner.char.surface") for name in model.transfer_report.copied_rows)


def test_word_transfer_between_japanese_models_aligns_parts_of_speech_by_tag(tmp_path):
    """A Japanese source (e.g. translate-train's) and target with different UniDic tag sets: each shared tag's row is
    the source's row of the same tag; a tag the source lacks stays fresh."""
    source_tokenizer = XLNerTokenizer.from_corpus(JA_TEXTS[:1], language="ja", part_of_speech=True)
    target_tokenizer = XLNerTokenizer.from_corpus(JA_TEXTS, language="ja", part_of_speech=True)
    assert source_tokenizer.pos_to_id != target_tokenizer.pos_to_id  # more texts, more tags, other ids
    config = XLNerConfig(
        word_vocab_size=source_tokenizer.vocab_size, bigram_vocab_size=source_tokenizer.bigram_vocab_size,
        pos_vocab_size=source_tokenizer.pos_vocab_size, id2label=dict(enumerate(JA_LABELS)), **SMALL,
    )  # fmt: skip
    torch.manual_seed(0)
    XLNerForTokenClassification(config).save_pretrained(tmp_path / "ja")
    source_tokenizer.save_pretrained(tmp_path / "ja")
    source = params(XLNerForTokenClassification.from_pretrained(tmp_path / "ja"))
    model = XLNerForTokenClassification.from_pretrained(
        tmp_path / "ja", transfer_modules="word", tokenizer=target_tokenizer, id2label=dict(enumerate(JA_LABELS)),
        pos_vocab_size=target_tokenizer.pos_vocab_size, seed=0,
    )  # fmt: skip
    target, name = params(model), P + "word.pos_embeddings.weight"
    shared = [tag for tag in target_tokenizer.pos_to_id if tag in source_tokenizer.pos_to_id]
    only_target = [tag for tag in target_tokenizer.pos_to_id if tag not in source_tokenizer.pos_to_id]
    assert shared and only_target
    for tag in shared:
        assert torch.equal(target[name][target_tokenizer.pos_to_id[tag]], source[name][source_tokenizer.pos_to_id[tag]]), tag
    for tag in only_target:
        assert not any(torch.equal(target[name][target_tokenizer.pos_to_id[tag]], row) for row in source[name]), tag
