"""The transfer methods of issue 14 on tiny hand-made cases: the word-space map (seed dictionary, least squares,
precision@1, the projection carried across by from_pretrained), code-switched English pretraining, zero-shot scoring."""

from __future__ import annotations

import json
import sys

import datasets
import numpy as np
import pytest
import torch

from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
from modeling_xlner.training.code_switch import code_switch_features, prepare_code_switching, romaji_spellings
from modeling_xlner.training.vectors import WordVectors
from modeling_xlner.training.word_space import (
    WordSpaceMap, build_seed_dictionary, learn_map, load_transliterations, precision_at_1, split_pairs,
)  # fmt: skip
from modeling_xlner.training.zero_shot import collapse_types
from modeling_xlner.training.features import add_translated_words
from modeling_xlner.training.options import TransferOptions
from modeling_xlner.transfer_xlner import align_vocabularies, read_word_space_map

EN_LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SMALL = dict(word_embedding_dim=4, bigram_embedding_dim=3, shape_embedding_dim=2, char_hidden_size=3, context_hidden_size=5)


# ---------------------------------------------------------------------------------- seed dictionary


def test_seed_dictionary_pairs_identical_strings_and_transliterations_of_own_rows():
    english = WordVectors("en", {"sony": 0, "tokyo": 1, "london": 2, "a": 3, "iron": 4}, np.eye(5, dtype=np.float32))
    # Row 1 is ロンドン's own; 倫敦 was pruned onto it (second key): it must not be paired.
    japanese = WordVectors(
        "ja", {"Sony": 0, "ロンドン": 1, "倫敦": 1, "a": 2, "アイアン": 3, "東京": 4}, np.eye(5, 3, dtype=np.float32)
    )
    transliterations = {"london": "ロンドン", "iron": "アイアン", "paris": "パリ", "tokyo": "倫敦"}
    dictionary = build_seed_dictionary(english, japanese, transliterations)
    # By hand: Sony is Latin and a GloVe key (lowercased); "a" is too short; ロンドン and アイアン are own keys
    # with an English word in GloVe; パリ has no Japanese vector; 倫敦 is a pruned key.
    assert dictionary.pairs == [("Sony", "sony"), ("アイアン", "iron"), ("ロンドン", "london")]
    assert dictionary.counts == {"identical": 1, "transliteration": 2}


def test_held_out_words_are_never_in_the_training_pairs():
    # Each English word e{i} has a second Japanese word v{i} (a loanword and its compound, say).
    pairs = [(f"w{i}", f"e{i}") for i in range(20)] + [("w0", "e0b")] + [(f"v{i}", f"e{i}") for i in range(20)]
    train, held = split_pairs(pairs, 0.25, seed=3)
    assert len({t for t, _ in held}) == 10
    assert not {t for t, _ in train} & {t for t, _ in held}
    # Nor are the held-out pairs' English words training targets: such pairs are dropped, the rest kept.
    answers = {s for _, s in held}
    assert not {s for _, s in train} & answers
    assert sorted(train) == sorted(p for p in pairs if p not in held and p[1] not in answers)
    assert len(train) > 0 and set(train) | set(held) < set(pairs)


def test_transliteration_file_is_read_and_bad_lines_are_named(tmp_path):
    good = tmp_path / "pairs.tsv"
    good.write_text("\ufeffLondon\tロンドン\n\nIron\tアイアン\n", encoding="utf-8")
    assert load_transliterations(str(good)) == {"london": "ロンドン", "iron": "アイアン"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("london\tロンドン\nparis\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv, line 2: expected 'english<TAB>katakana'"):
        load_transliterations(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_transliterations(str(tmp_path / "missing.tsv"))


def test_a_missing_alkana_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "alkana", None)
    monkeypatch.setitem(sys.modules, "alkana.data", None)
    with pytest.raises(ImportError, match=r"alkana.*pip install \"xlner\[transfer\]\""):
        load_transliterations("alkana")


# ---------------------------------------------------------------------------------- the map


def _exact_case():
    """Target vectors (3-d) that an exact linear map sends onto the source vectors (2-d)."""
    rng = np.random.default_rng(0)
    true_map = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]], dtype=np.float32)
    target_matrix = rng.normal(size=(30, 3)).astype(np.float32)
    source_matrix = target_matrix @ true_map
    target = WordVectors("ja", {f"j{i}": i for i in range(30)}, target_matrix)
    source = WordVectors("en", {f"e{i}": i for i in range(30)}, source_matrix)
    return source, target, true_map, [(f"j{i}", f"e{i}") for i in range(30)]


def test_least_squares_recovers_an_exact_map_and_finds_every_held_out_word():
    source, target, true_map, pairs = _exact_case()
    train, held = pairs[:20], pairs[20:]
    matrix = learn_map(source, target, train, ridge=1e-6)
    np.testing.assert_allclose(matrix, true_map, atol=1e-4)
    assert precision_at_1(matrix, source, target, held) == 1.0
    # A map that sends everything elsewhere finds (almost) nothing: the measure can fail.
    assert precision_at_1(-matrix, source, target, held) < 0.2


def test_precision_at_1_counts_by_hand():
    """Two held-out words, one mapped next to its English word, one next to another word: 1/2."""
    source = WordVectors("en", {"x": 0, "y": 1, "z": 2}, np.array([[1, 0], [0, 1], [-1, 0]], dtype=np.float32))
    target = WordVectors("ja", {"ja_x": 0, "ja_y": 1}, np.array([[2, 0.1], [-1, 0.2]], dtype=np.float32))
    assert precision_at_1(np.eye(2, dtype=np.float32), source, target, [("ja_x", "x"), ("ja_y", "y")]) == 0.5


def test_map_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "map.pt"
    WordSpaceMap(np.ones((3, 2), dtype=np.float32), "en", "ja", "alkana", {"pairs": 7}, 0.25).save(path)
    loaded = WordSpaceMap.load(path)
    assert loaded.record() == {
        "source_vectors": "en", "target_vectors": "ja", "transliterations": "alkana", "dictionary": {"pairs": 7},
        "precision_at_1": 0.25, "ridge": 1.0, "shape": [3, 2],
    }  # fmt: skip
    assert torch.equal(read_word_space_map(str(path)), torch.ones(3, 2))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        read_word_space_map(str(tmp_path / "nowhere.pt"))
    torch.save({"other": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a word-space map"):
        read_word_space_map(str(tmp_path / "other.pt"))


# ---------------------------------------------------------------------------------- the projection carried across


@pytest.fixture()
def english_with_vectors(tmp_path):
    """A tiny English model with 2-d vectors (rows: none, tokyo, sony) and a known projection."""
    tokenizer = XLNerTokenizer.from_corpus(["Sony is in Tokyo ."], language="en", vector_vocab={"tokyo": 1, "sony": 2})
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size, vector_vocab_size=3,
        vector_dim=2, id2label=dict(enumerate(EN_LABELS)), **SMALL,
    )  # fmt: skip
    torch.manual_seed(0)
    model = XLNerForTokenClassification(config)
    with torch.no_grad():
        model.xlner.word.vector_projection.weight.copy_(torch.arange(8.0).view(4, 2))
    model.save_pretrained(tmp_path / "en")
    tokenizer.save_pretrained(tmp_path / "en")
    return tmp_path / "en", model, tokenizer


def test_word_space_map_carries_the_projection_and_unknown_words_start_from_unk(english_with_vectors):
    directory, source, source_tokenizer = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["Sonyは東京にある。"], language="ja", vector_vocab={"東京": 1, "Sony": 2})
    word_space_map = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])  # 3-d Japanese vectors -> 2-d English
    model = XLNerForTokenClassification.from_pretrained(
        directory, transfer_modules="word,char,classifier", tokenizer=japanese, word_space_map=word_space_map,
        vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0,
    )  # fmt: skip
    # By hand: W_source = [[0,1],[2,3],[4,5],[6,7]]; W_target = W_source @ M.T, row r = (w0, w1, 2 w0 + 3 w1).
    expected = torch.tensor([[0.0, 1, 3], [2, 3, 13], [4, 5, 23], [6, 7, 33]])
    assert torch.equal(model.xlner.word.vector_projection.weight.detach(), expected)
    # Projecting a mapped vector equals the source's projection of the mapped vector.
    x = torch.tensor([0.5, -1.0, 2.0])
    assert torch.allclose(model.xlner.word.vector_projection(x), source.xlner.word.vector_projection(x @ word_space_map))
    # Sony is in both vocabularies (its row copied); は, 東京, ... are not: they start from the English <unk> row.
    rows = model.get_input_embeddings().weight.detach()
    english_rows = source.get_input_embeddings().weight.detach()
    assert torch.equal(rows[japanese.word_to_id["sony"]], english_rows[source_tokenizer.word_to_id["sony"]])
    for word in ("は", "東京", "ある"):
        assert torch.equal(rows[japanese.word_to_id[word]], english_rows[source.config.unk_token_id]), word
    assert torch.equal(rows[source.config.pad_token_id], torch.zeros(4))
    report = model.config.transferred_from
    assert report["word_space_map"] == [3, 2]
    assert report["word_rows_from_unknown"] == len(japanese.word_to_id) - 3  # all but <pad>, <unk>, sony
    # The vector table is the target's own (zeros until the trainer loads its rows), never the source's.
    assert model.xlner.word.vectors.shape == (3, 3)


def test_translated_word_rows_start_from_their_translation(english_with_vectors, tmp_path):
    directory, source, source_tokenizer = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["ソニーは東京にある。"], language="ja", vector_vocab={"東京": 1, "ソニー": 2})
    # ソニー has two translations: "sony" is in the source vocabulary, "sonny" is not; 東京's is not there either.
    path = tmp_path / "map.pt"
    pairs = [("ソニー", "sonny"), ("ソニー", "sony"), ("東京", "edo")]
    WordSpaceMap(np.eye(3, 2, dtype=np.float32), "en", "ja", "alkana", {"pairs": 3}, None, 1.0, pairs).save(path)
    assert WordSpaceMap.load(path).pairs == pairs
    model = XLNerForTokenClassification.from_pretrained(
        directory, transfer_modules="word,char,classifier", tokenizer=japanese, word_space_map=str(path), word_translations=str(path),
        vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0,
    )  # fmt: skip
    rows, english_rows = model.get_input_embeddings().weight.detach(), source.get_input_embeddings().weight.detach()
    assert torch.equal(rows[japanese.word_to_id["ソニー"]], english_rows[source_tokenizer.word_to_id["sony"]])
    for word in ("は", "東京", "ある"):  # no translation in the source vocabulary: the <unk> row, as without translations
        assert torch.equal(rows[japanese.word_to_id[word]], english_rows[source.config.unk_token_id]), word
    report = model.config.transferred_from
    assert report["word_rows_translated"] == 1
    assert report["word_rows_from_unknown"] == len(japanese.word_to_id) - 3  # all but <pad>, <unk>, ソニー
    assert report["rows_copied"]["word"] == [3, len(japanese.word_to_id)]  # <pad>, <unk>, ソニー


def test_dictionary_words_the_source_knows_join_the_target_vocabulary(english_with_vectors, tmp_path):
    directory, _, source_tokenizer = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["東京にある。"], language="ja")
    path = tmp_path / "map.pt"
    pairs = [("ソニー", "sony"), ("トーキョー", "tokyo"), ("東京", "tokyo"), ("エド", "edo"), ("001", "001")]
    WordSpaceMap(np.eye(3, 2, dtype=np.float32), "en", "ja", "alkana", {}, None, 1.0, pairs).save(path)
    extended = add_translated_words(japanese, str(directory), str(path))
    # 東京 was already there (its id kept); エド's translation is unknown to the source; numbers are left out.
    added = {word: index for word, index in extended.word_to_id.items() if word not in japanese.word_to_id}
    assert added == {"ソニー": len(japanese.word_to_id), "トーキョー": len(japanese.word_to_id) + 1}
    assert all(extended.word_to_id[word] == index for word, index in japanese.word_to_id.items())
    assert extended.bigram_to_id == japanese.bigram_to_id and "sony" in source_tokenizer.word_to_id


def test_translated_word_rows_take_the_most_frequent_translation():
    # Vocabularies are in frequency order: of two translations in the source, the lower id wins.
    source, target = {"<pad>": 0, "<unk>": 1, "club": 2, "crab": 3}, {"<pad>": 0, "<unk>": 1, "クラブ": 2, "カニ": 3}
    assert align_vocabularies(source, target, {"クラブ": ["crab", "club"], "カニ": ["kani"]}) == ([0, 1, 2], [0, 1, 2])
    assert align_vocabularies(source, target) == ([0, 1], [0, 1])


def test_translated_word_rows_errors(english_with_vectors, tmp_path):
    directory, _, _ = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["東京にある。"], language="ja", vector_vocab={"東京": 1})
    common = dict(tokenizer=japanese, vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0, word_space_map=torch.eye(3, 2))
    old_map = tmp_path / "old.pt"
    torch.save({"target_to_source": torch.eye(3, 2)}, old_map)  # a map file from before the pairs were saved
    with pytest.raises(ValueError, match="holds no dictionary pairs"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="word", word_translations=str(old_map), **common)
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="word", word_translations=str(tmp_path / "nowhere.pt"), **common)
    with pytest.raises(ValueError, match="`word_translations`.*needs `word`"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="char", word_translations={"東京": "tokyo"}, tokenizer=japanese)
    with pytest.raises(ValueError, match="give --word-space-map too"):
        TransferOptions(translated_word_rows=True)


def test_word_space_map_errors(english_with_vectors):
    directory, _, _ = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["東京にある。"], language="ja", vector_vocab={"東京": 1})
    common = dict(tokenizer=japanese, vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0)
    with pytest.raises(ValueError, match="need a `word_space_map`"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="word", **common)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*needs \(3, 2\)"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="word", word_space_map=torch.zeros(2, 3), **common)
    with pytest.raises(ValueError, match="needs `word` among the modules"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="char", word_space_map=torch.zeros(3, 2), **common)
    # A map joins two vector tables: a target without vectors (it used to be a bare TypeError) is named.
    no_vectors = {**common, "vector_dim": 0}
    with pytest.raises(ValueError, match=r"the target \(the model being built\) has no pretrained vectors"):
        XLNerForTokenClassification.from_pretrained(directory, transfer_modules="word", word_space_map=torch.zeros(3, 2), **no_vectors)


def test_a_word_space_map_from_a_source_without_vectors_is_named(tmp_path):
    # Before, this was a bare KeyError (the source has no vector projection to map).
    tokenizer = XLNerTokenizer.from_corpus(["Sony is in Tokyo ."], language="en")
    config = XLNerConfig(
        word_vocab_size=tokenizer.vocab_size, bigram_vocab_size=tokenizer.bigram_vocab_size, id2label=dict(enumerate(EN_LABELS)), **SMALL,
    )  # fmt: skip
    XLNerForTokenClassification(config).save_pretrained(tmp_path / "en")
    tokenizer.save_pretrained(tmp_path / "en")
    japanese = XLNerTokenizer.from_corpus(["東京にある。"], language="ja", vector_vocab={"東京": 1})
    for vector_dim, missing in ((3, "the source"), (0, "the source .* and the target")):
        with pytest.raises(ValueError, match=f"{missing}.*has no pretrained vectors.*--vectors auto"):
            XLNerForTokenClassification.from_pretrained(
                tmp_path / "en", transfer_modules="word", tokenizer=japanese, word_space_map=torch.zeros(3, 2),
                vector_dim=vector_dim, id2label=dict(enumerate(EN_LABELS)), seed=0,
            )  # fmt: skip


# ---------------------------------------------------------------------------------- code switching


def test_code_switched_words_read_the_romaji_of_their_transliteration(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("los\tロス\nangeles\tアンジェルス\n", encoding="utf-8")
    train = datasets.Dataset.from_dict({"tokens": [["Los", "Angeles", "is", "big"], ["los", "is"]], "ner_tags": [["B-LOC", "I-LOC", "O", "O"], ["B-LOC", "O"]]})
    tokenizer = XLNerTokenizer.from_corpus(list(train["tokens"]), language="en", is_split_into_words=True)
    # pykakasi's Hepburn (ジェ → "jie"), as the Japanese tokenizer romanises the same katakana.
    assert romaji_spellings(train["tokens"], load_transliterations(str(pairs))) == {"los": "rosu", "angeles": "anjierusu"}
    tokenizer, switch = prepare_code_switching(train, tokenizer, str(pairs), rate=1.0, seed=0)
    encoding = tokenizer(list(train["tokens"]), is_split_into_words=True)
    features = datasets.Dataset.from_dict({"char_ids": encoding["char_ids"]})
    switched, count = switch.apply(features, train, tokenizer)
    assert count == 3  # Los, Angeles, los: every transliterable occurrence at rate 1
    ids = tokenizer.bigram_to_id
    # The bigrams of "rosu" between the word-boundary marks, written out by hand.
    start, end = tokenizer._bigrams(tokenizer.split_words("x")[0])[0][0], tokenizer._bigrams(tokenizer.split_words("x")[0])[-1][-1]
    rosu = [ids[start + "r"], ids["ro"], ids["os"], ids["su"], ids["u" + end]]
    assert switched["char_ids"][0][0] == rosu and switched["char_ids"][1][0] == rosu
    assert switched["char_ids"][0][2] == encoding["char_ids"][0][2]  # "is" has no transliteration: unchanged
    assert 1 not in rosu  # the romaji bigrams joined the vocabulary (1 is <unk>)
    unchanged, none = code_switch_features(features, train["tokens"], tokenizer, switch.spellings, rate=0.0, seed=0)
    assert none == 0 and unchanged["char_ids"] == features["char_ids"]


# ---------------------------------------------------------------------------------- zero-shot scoring


def test_zero_shot_gold_types_are_collapsed_through_the_label_map():
    spans = datasets.Dataset.from_list(
        [{"text": "山田はトヨタの社員", "entities": [{"start": 0, "end": 2, "type": "人名"}, {"start": 3, "end": 6, "type": "法人名"}, {"start": 7, "end": 9, "type": "病名"}]}]
    )
    collapsed = collapse_types(spans, {"人名": "PER", "法人名": "ORG"})
    assert [(e["start"], e["end"], e["type"]) for e in collapsed[0]["entities"]] == [(0, 2, "PER"), (3, 6, "ORG")]
    words = datasets.Dataset.from_dict({"tokens": [["a", "b", "c"]], "ner_tags": [["B-人名", "I-人名", "B-病名"]]})
    assert collapse_types(words, {"人名": "PER"})[0]["ner_tags"] == ["B-PER", "I-PER", "O"]


# ---------------------------------------------------------------------------------- script shapes by role


def test_script_shapes_start_from_the_english_shape_of_the_same_role(english_with_vectors):
    directory, source, _ = english_with_vectors
    japanese = XLNerTokenizer.from_corpus(["東京にある。"], language="ja")
    names = list(japanese.shape_names)
    model = XLNerForTokenClassification.from_pretrained(
        directory, transfer_modules="char", tokenizer=japanese, shape_roles=True, id2label=dict(enumerate(EN_LABELS)), seed=0
    )
    rows, english = model.xlner.char.shape_embeddings.weight.detach(), source.xlner.char.shape_embeddings.weight.detach()
    # By hand: katakana from title, hiragana / kanji / mixed from lower; every other row the source's own.
    expected = {"katakana": "title", "hiragana": "lower", "kanji": "lower", "mixed-japanese": "lower"}
    for index, name in enumerate(names):
        assert torch.equal(rows[index], english[names.index(expected.get(name, name))]), name
    assert model.config.transferred_from["shape_roles"] == expected
    with pytest.raises(ValueError, match=r"shape_roles: \['cursive'\] are not word shapes"):
        XLNerForTokenClassification.from_pretrained(
            directory, transfer_modules="char", tokenizer=japanese, shape_roles={"cursive": "lower"},
            id2label=dict(enumerate(EN_LABELS)), seed=0,
        )  # fmt: skip


def test_zero_shot_from_a_japanese_source_keeps_its_parts_of_speech(tmp_path):
    """A Japanese source (translate-train's) tags with its UniDic part-of-speech rows, aligned by tag; an
    English source has none, so the zero-shot model has none either."""
    from safetensors.torch import load_file

    from modeling_xlner import XLNerConfig, XLNerForTokenClassification, XLNerTokenizer
    from modeling_xlner.training.options import TrainingOptions, TransferOptions
    from modeling_xlner.training.zero_shot import zero_shot

    texts = ["山田太郎は東京本社を訪れた。", "東京タワーは港区にある。"]
    source_tokenizer = XLNerTokenizer.from_corpus(texts, language="ja", part_of_speech=True)
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    config = XLNerConfig(
        word_vocab_size=source_tokenizer.vocab_size, bigram_vocab_size=source_tokenizer.bigram_vocab_size,
        pos_vocab_size=source_tokenizer.pos_vocab_size, id2label=dict(enumerate(labels)),
        word_embedding_dim=8, bigram_embedding_dim=6, shape_embedding_dim=4, char_hidden_size=5, context_hidden_size=7,
    )  # fmt: skip
    XLNerForTokenClassification(config).save_pretrained(tmp_path / "source")
    source_tokenizer.save_pretrained(tmp_path / "source")
    data = tmp_path / "ja.jsonl"
    data.write_text(
        "\n".join(json.dumps({"text": text, "entities": [{"name": "東京", "span": [text.index("東京"), text.index("東京") + 2], "type": "地名"}]},
                             ensure_ascii=False) for text in texts) + "\n", encoding="utf-8")  # fmt: skip
    record = zero_shot(
        str(tmp_path / "source"), "ja", str(data), str(data), tmp_path / "out",
        TrainingOptions(vectors=None, seed=1), TransferOptions(modules="word,char,classifier"),
    )  # fmt: skip
    assert record["transfer"]["rows_copied"]["pos"][0] > 0
    target_tokenizer = XLNerTokenizer.from_pretrained(tmp_path / "out")
    source_rows = load_file(tmp_path / "source" / "model.safetensors")["xlner.word.pos_embeddings.weight"]
    target_rows = load_file(tmp_path / "out" / "model.safetensors")["xlner.word.pos_embeddings.weight"]
    for tag, index in target_tokenizer.pos_to_id.items():
        if tag in source_tokenizer.pos_to_id:
            assert torch.equal(target_rows[index], source_rows[source_tokenizer.pos_to_id[tag]]), tag


def test_zero_shot_builds_its_model_as_a_transfer_run_does(tmp_path):
    """Zero-shot and `xlner transfer` share one model builder: with shared bigrams, every English bigram
    joins the Japanese vocabulary and keeps its trained row (before, zero-shot dropped them and their
    rows); the head keeps the source's labels and CRF, whatever the Japanese data's types."""
    from safetensors.torch import load_file

    from modeling_xlner.training.options import TrainingOptions, TransferOptions
    from modeling_xlner.training.zero_shot import zero_shot
    from test_joint import save_english_model
    from test_training_transfer import JA_RECORDS, write_span_data
    from test_transfer import EN_LABELS as SOURCE_LABELS

    source = save_english_model(tmp_path / "en", crf=True)
    data = write_span_data(tmp_path / "ja.jsonl", JA_RECORDS)
    record = zero_shot(
        str(source), "ja", data, data, tmp_path / "out", TrainingOptions(vectors=None, seed=1),
        TransferOptions(modules="char,classifier", shared_bigrams=True),
    )  # fmt: skip
    source_bigrams = XLNerTokenizer.from_pretrained(source).bigram_to_id
    target_bigrams = XLNerTokenizer.from_pretrained(tmp_path / "out").bigram_to_id
    english_only = set(source_bigrams) - set(XLNerTokenizer.from_corpus([text for text, _ in JA_RECORDS], language="ja").bigram_to_id)
    assert english_only and english_only <= set(target_bigrams)
    source_rows = load_file(source / "model.safetensors")["xlner.char.bigram_embeddings.weight"]
    target_rows = load_file(tmp_path / "out" / "model.safetensors")["xlner.char.bigram_embeddings.weight"]
    for bigram in english_only:
        assert torch.equal(target_rows[target_bigrams[bigram]], source_rows[source_bigrams[bigram]]), bigram
    assert record["transfer"]["rows_copied"]["char"][0] == len(source_bigrams)  # every English row, special ones included
    config = XLNerConfig.from_pretrained(tmp_path / "out")
    assert config.id2label == dict(enumerate(SOURCE_LABELS)) and config.use_crf
    assert 0.0 <= record["test"]["f1"] <= 1.0 and record["type_map"]["人名"] == "PER"


def test_translated_rows_that_translate_nothing_say_so(english_with_vectors, tmp_path, caplog):
    """A romaji word input never meets the dictionary's katakana words: the tokenizer is left as it is and
    the copy warns that no row was translated, instead of silently doing nothing."""
    directory, _, _ = english_with_vectors
    path = tmp_path / "map.pt"
    WordSpaceMap(np.eye(3, 2, dtype=np.float32), "en", "ja", "alkana", {}, None, 1.0, [("ソニー", "sony")]).save(path)
    romaji = XLNerTokenizer.from_corpus(["ソニーは東京にある。"], language="ja", word_input="romaji", vector_vocab={"東京": 1})
    with caplog.at_level("WARNING"):
        assert add_translated_words(romaji, str(directory), str(path)) is romaji
        model = XLNerForTokenClassification.from_pretrained(
            directory, transfer_modules="word", tokenizer=romaji, word_space_map=str(path), word_translations=str(path),
            vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0,
        )  # fmt: skip
    assert model.config.transferred_from["word_rows_translated"] == 0
    assert "word input is romaji" in caplog.text and "no word row is translated" in caplog.text
    # The surface input does translate ソニー (the oracle: the same pair, one row), and says nothing.
    caplog.clear()
    surface = XLNerTokenizer.from_corpus(["ソニーは東京にある。"], language="ja", vector_vocab={"東京": 1})
    with caplog.at_level("WARNING"):
        model = XLNerForTokenClassification.from_pretrained(
            directory, transfer_modules="word", tokenizer=add_translated_words(surface, str(directory), str(path)),
            word_space_map=str(path), word_translations=str(path), vector_dim=3, id2label=dict(enumerate(EN_LABELS)), seed=0,
        )  # fmt: skip
    assert model.config.transferred_from["word_rows_translated"] == 1 and "translated" not in caplog.text
