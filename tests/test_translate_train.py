"""Translate-train: English sentences translated word by word into a Japanese span-JSON corpus (hand-worked cases)."""

from __future__ import annotations

import json

import numpy
import pytest

from modeling_xlner.training.data import read_span_json
from modeling_xlner.training.translate_train import (
    is_native,
    nearest_target_words,
    translate_corpus,
    translate_sentence,
    translate_word,
    write_span_jsonl,
)
from modeling_xlner.training.vectors import WordVectors


def _vectors(name: str, table: dict[str, list[float]]) -> WordVectors:
    return WordVectors(name, {key: row for row, key in enumerate(table)}, numpy.array(list(table.values()), dtype=numpy.float32))


def test_nearest_target_words_by_cosine_through_the_map():
    english = _vectors("en", {"city": [1.0, 0.0], "dog": [0.0, 1.0]})
    # The map swaps the two axes, so 市 (1, 0) lands on dog's direction and シティ (0.1, 0.9) near city's.
    japanese = _vectors("ja", {"犬": [0.3, 0.95], "市": [1.0, 0.0], "シティ": [0.1, 0.9]})
    swap = numpy.array([[0.0, 1.0], [1.0, 0.0]])
    # city: cosine 0.994 with シティ's (0.9, 0.1) against 0.954 with 犬's (0.95, 0.3); dog: 1 with 市's (0, 1).
    assert nearest_target_words(["City", "dog", "unseen"], english, japanese, swap) == {"city": "シティ", "dog": "市"}
    identity = numpy.eye(2)
    assert nearest_target_words(["city", "dog"], english, japanese, identity) == {"city": "市", "dog": "シティ"}
    # Katakana-only candidates left out: dog's nearest is then 犬 (0.954; 市 is at 0).
    assert nearest_target_words(["dog"], english, japanese, identity, keep=is_native) == {"dog": "犬"}


def test_is_native_wants_kanji_or_hiragana():
    assert [is_native(word) for word in ("市", "ない", "シティ", "EU", "2024", "東京タワー")] == [True, True, False, False, False, True]


def test_translate_word_rules():
    nearest, native, kana = {"smith": "田中", "asdf": "何か"}, {"visited": "訪れた", "mr": "氏"}, {"smith": "スミス"}
    assert translate_word("Smith", True, nearest, native, kana) == "スミス"  # entity: the transliteration first
    assert translate_word("ASDF", True, nearest, native, kana) == "ASDF"  # a capital: a name kept in Latin script
    assert translate_word("asdf", True, nearest, native, kana) == "何か"  # else its nearest word
    assert translate_word("visited", False, nearest, native, kana) == "訪れた"  # other words: the native nearest
    assert translate_word("smith", False, nearest, native, kana) == "smith"  # never the transliteration
    assert translate_word("1996-08-22", True, nearest, native, kana) == "1996-08-22"  # no letters: as it is
    assert translate_word(",", False, {",": "他"}, {",": "他"}, kana) == ","


def test_translated_sentence_keeps_the_entities_at_their_characters():
    table = {"Mr": "氏", "Smith": "スミス", "visited": "訪れた", "New": "ニュー", "York": "ヨーク", "EU": "EU", "rejects": "rejects"}
    record = translate_sentence(
        ["Mr", "Smith", "visited", "New", "York", "."], ["O", "B-PER", "O", "B-LOC", "I-LOC", "O"], lambda w, e: table.get(w, w)
    )
    # 氏|スミス|訪れた|ニューヨーク|. : スミス is characters 1-4, ニューヨーク 7-13 (worked out by hand).
    assert record == {
        "text": "氏スミス訪れたニューヨーク.",
        "entities": [{"name": "スミス", "span": [1, 4], "type": "PER"}, {"name": "ニューヨーク", "span": [7, 13], "type": "LOC"}],
    }
    # Latin words side by side get a space; an I- after O starts an entity (as seqeval reads IOB2).
    record = translate_sentence(["EU", "rejects", "York"], ["B-ORG", "O", "I-LOC"], lambda w, e: table[w])
    assert record["text"] == "EU rejectsヨーク"
    assert record["entities"] == [{"name": "EU", "span": [0, 2], "type": "ORG"}, {"name": "ヨーク", "span": [10, 13], "type": "LOC"}]
    # B-X B-X is two entities; I-Y after I-X a new one.
    record = translate_sentence(["New", "York", "Smith"], ["B-LOC", "B-LOC", "I-PER"], lambda w, e: table[w])
    assert [e["span"] for e in record["entities"]] == [[0, 3], [3, 6], [6, 9]]


def test_written_corpus_reads_back_as_span_json(tmp_path):
    sentences = [{"tokens": ["Smith", "visited", "York"], "ner_tags": ["B-PER", "O", "B-LOC"]}]
    records = translate_corpus(sentences, {}, {"visited": "訪れた"}, {"smith": "スミス", "york": "ヨーク"})
    path = tmp_path / "translated.jsonl"
    assert write_span_jsonl(records, path) == 1
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["text"] == "スミス訪れたヨーク"
    (read,) = read_span_json(path)
    assert read["text"] == "スミス訪れたヨーク" and [e["type"] for e in read["entities"]] == ["PER", "LOC"]


def test_translate_train_command_names_a_missing_map(tmp_path):
    from modeling_xlner.cli import build_parser

    args = build_parser().parse_args(
        ["translate-train", "--conll", "x.txt", "--output", str(tmp_path / "o.jsonl"), "--word-space-map", str(tmp_path / "no.pt")]
    )
    with pytest.raises(FileNotFoundError, match="no.pt"):
        args.run(args)
