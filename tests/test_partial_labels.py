"""Partial labels: span data's `unlabeled` ranges, their words' unknown labels, and self-training's disputed spans."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from modeling_xlner import XLNerTokenizer
from modeling_xlner.training.data import DataFormatError, load_data
from modeling_xlner.training.evaluation import IGNORE_INDEX, encode_split
from modeling_xlner.training.options import TrainingOptions
from modeling_xlner.training.results import Results
from modeling_xlner.training.self_training import majority_entities, pseudo_labels

from test_self_training import _records, _tagging, _train_self_trained

LABEL2ID = {"O": 0, "B-人名": 1, "I-人名": 2, "B-地名": 3, "I-地名": 4}
TEXT = "佐藤さんは大阪へ行った。"  # 佐藤 [0, 2), さん [2, 4), 大阪 [5, 7)


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def test_unlabeled_ranges_load_as_a_column_only_when_some_record_has_them(tmp_path):
    plain = load_data(str(_write(tmp_path / "plain.jsonl", [{"text": TEXT, "entities": []}])))
    assert "unlabeled" not in plain.column_names
    partial = load_data(str(_write(tmp_path / "partial.jsonl", [
        {"text": TEXT, "entities": [], "unlabeled": [[5, 7], [0, 4]]}, {"text": "京都", "entities": []},
    ])))  # fmt: skip
    assert partial["unlabeled"] == [[{"start": 5, "end": 7}, {"start": 0, "end": 4}], []]


@pytest.mark.parametrize(
    ("ranges", "message"),
    [("nope", "'unlabeled' must be a list"), ([[3]], "unlabeled range 1: expected"), ([[0, 2], [7, 99]], "unlabeled range 2: \\[7, 99\\) is empty or outside")],
)
def test_bad_unlabeled_ranges_name_the_file_line_and_range(tmp_path, ranges, message):
    path = _write(tmp_path / "bad.jsonl", [{"text": "京都", "entities": []}, {"text": TEXT, "entities": [], "unlabeled": ranges}])
    with pytest.raises(DataFormatError, match=f"bad.jsonl.*line 2.*{message}"):
        load_data(str(path))


def test_words_of_an_unlabeled_range_outside_every_entity_have_no_label(tmp_path):
    record = {
        "text": TEXT, "entities": [{"name": "佐藤", "span": [0, 2], "type": "人名"}], "unlabeled": [[0, 4], [5, 7]],
    }  # fmt: skip
    dataset = load_data(str(_write(tmp_path / "t.jsonl", [record, {"text": TEXT, "entities": record["entities"]}])))
    tokenizer = XLNerTokenizer.from_corpus([TEXT], language="ja")
    split = encode_split(dataset, tokenizer, LABEL2ID, "t.jsonl")
    words = [TEXT[start:end] for start, end in split.offsets[0]]
    assert words[:3] == ["佐藤", "さん", "は"] and "大阪" in words  # the segmentation the hand labels below assume
    by_hand = {"佐藤": 1, "さん": IGNORE_INDEX, "大阪": IGNORE_INDEX}  # the entity keeps its label inside a range
    assert split.features[0]["labels"] == [by_hand.get(word, 0) for word in words]
    assert split.features[1]["labels"] == [1 if word == "佐藤" else 0 for word in words]  # no ranges: plain tags


def test_the_vote_marks_the_spans_a_minority_finds_as_unlabeled():
    text = "佐藤さんは大阪へ行った。"
    taggings = [
        _tagging((text, [(0, 2, "人名"), (5, 7, "地名")])),
        _tagging((text, [(0, 2, "人名"), (5, 7, "人名")])),
        _tagging((text, [(0, 4, "人名")])),
    ]
    (voted,) = majority_entities(taggings, mark_disputed=True)
    assert [(e["span"], e["type"]) for e in voted["entities"]] == [([0, 2], "人名")]
    # 大阪 as a place and as a name have one vote each, 佐藤さん one: none a majority.
    assert voted["unlabeled"] == [[0, 4], [5, 7]]
    assert "unlabeled" not in majority_entities(taggings)[0]  # off by default
    (agreed,) = majority_entities([_tagging((text, [(0, 2, "人名")]))] * 3, mark_disputed=True)
    assert "unlabeled" not in agreed  # nothing disputed, nothing marked


def test_a_student_with_partial_labels_is_taught_nothing_about_disputed_words(tmp_path):
    texts = ["鈴木一郎は京都に住む。", "パナソニックは大阪の会社だ。"]
    output = _train_self_trained(tmp_path, texts, "--self-training-teachers", "3", "--self-training-partial-labels")
    tagged = _records(output / "student_train.jsonl")[-len(texts):]
    assert [r["text"] for r in tagged] == texts  # the tagged texts come after the gold ones
    found = [pseudo_labels(output / name, texts) for name in ("teacher", "teacher-2", "teacher-3")]
    assert any(r["entities"] for tagging in found for r in tagging), "the tiny teachers tag something"
    for index, record in enumerate(tagged):  # the definition, against each teacher's own tags
        votes = Counter((*e["span"], e["type"]) for tagging in found for e in tagging[index]["entities"])
        assert {(*e["span"], e["type"]) for e in record["entities"]} == {span for span, count in votes.items() if count >= 2}
        assert record.get("unlabeled", []) == sorted([list(span[:2]) for span, count in votes.items() if count == 1])
    with pytest.raises(ValueError, match="one teacher disputes nothing"):
        TrainingOptions(self_training_partial_labels=True)
    assert Results.load(output / "results.json").self_training.unlabeled_ranges == sum(len(r.get("unlabeled", [])) for r in tagged)
