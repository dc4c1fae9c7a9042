"""Tests for modeling_xlner.training.data: readers, error reporting, span <-> BIO projection."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import datasets
import pytest
from seqeval.metrics.sequence_labeling import get_entities

from modeling_xlner.training.data import (
    DataFormatError,
    ReadStats,
    boundary_ceiling,
    load_split,
    ner_tags_to_strings,
    read_conll,
    read_span_json,
    spans_to_word_tags,
    word_tags_to_spans,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def assert_names(error: pytest.ExceptionInfo[DataFormatError], path: Path, where: str, what: str) -> None:
    """The message names the file, the location (e.g. 'line 3') and the problem."""
    message = str(error.value)
    assert str(path) in message
    assert where in message
    assert what in message


# --- CoNLL ------------------------------------------------------------------------------------

CONLL = """-DOCSTART- O

EU B-ORG
rejects O
German B-MISC
call O

Peter B-PER
Blackburn I-PER
"""


def test_read_conll(tmp_path):
    sentences = read_conll(write(tmp_path, "a.txt", CONLL))
    assert sentences == [
        {"tokens": ["EU", "rejects", "German", "call"], "ner_tags": ["B-ORG", "O", "B-MISC", "O"]},
        {"tokens": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"]},
    ]


def test_read_conll_four_columns_uses_last_column(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
    sentences = read_conll(write(tmp_path, "a.conll", text))
    assert sentences == [{"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]}]


def test_read_conll_bom_and_crlf(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbf" + CONLL.replace("\n", "\r\n").encode())
    assert read_conll(path) == read_conll(write(tmp_path, "b.txt", CONLL))


def test_read_conll_bom_before_first_token(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfEU B-ORG\r\n")
    assert read_conll(path) == [{"tokens": ["EU"], "ner_tags": ["B-ORG"]}]


def test_read_conll_one_column(tmp_path):
    path = write(tmp_path, "a.txt", "EU B-ORG\nrejects\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, "line 2", "one column")
    assert error.value.line == 2


@pytest.mark.parametrize("tag", ["PER", "B_PER", "B-", "b-PER", "X-PER", "o"])  # (E-PER is BIOES: test_tag_schemes.py)
def test_read_conll_bad_tag(tmp_path, tag):
    path = write(tmp_path, "a.txt", f"-DOCSTART- O\n\nEU B-ORG\n\nPeter {tag}\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, "line 5", repr(tag))


@pytest.mark.parametrize("content", ["", "\n\n", "-DOCSTART- O\n\n"])
def test_read_conll_empty(tmp_path, content):
    path = write(tmp_path, "a.txt", content)
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, str(path), "no sentences")


def test_read_conll_invalid_utf8(tmp_path):
    path = write(tmp_path, "a.txt", b"EU B-ORG\n\xff\xfe B-PER\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, "line 2", "UTF-8")


# --- span JSON --------------------------------------------------------------------------------

RECORDS = [
    {"curid": "1", "text": "株式会社ナムコに入社", "entities": [{"name": "株式会社ナムコ", "span": [0, 7], "type": "法人名"}]},
    {"curid": "2", "text": "奏者は普通、爪を用いて演奏する。", "entities": []},
    {"text": "東京と大阪", "entities": [{"span": [0, 2], "type": "地名"}, {"span": [3, 5], "type": "地名"}]},
]
EXPECTED = [
    {"text": "株式会社ナムコに入社", "entities": [{"start": 0, "end": 7, "type": "法人名", "name": "株式会社ナムコ"}]},
    {"text": "奏者は普通、爪を用いて演奏する。", "entities": []},
    {
        "text": "東京と大阪",
        "entities": [
            {"start": 0, "end": 2, "type": "地名", "name": "東京"},
            {"start": 3, "end": 5, "type": "地名", "name": "大阪"},
        ],
    },
]


def jsonl(records: list) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def test_read_span_jsonl(tmp_path):
    stats = ReadStats()
    assert read_span_json(write(tmp_path, "a.jsonl", jsonl(RECORDS)), stats) == EXPECTED
    assert (stats.n_records, stats.n_entities, stats.n_dropped_overlapping) == (3, 3, 0)


def test_read_span_json_array(tmp_path):
    path = write(tmp_path, "a.json", json.dumps(RECORDS, ensure_ascii=False, indent=2))
    assert read_span_json(path) == EXPECTED


def test_read_span_json_bom_crlf_and_blank_lines(tmp_path):
    content = b"\xef\xbb\xbf" + jsonl(RECORDS).replace("\n", "\r\n\r\n").encode("utf-8")
    assert read_span_json(write(tmp_path, "a.jsonl", content)) == EXPECTED


def test_read_span_json_keeps_unicode_line_separators_inside_text(tmp_path):
    # U+2028 is legal raw inside a JSON string; it must not split the record.
    record = {"text": "東京\u2028大阪", "entities": [{"span": [3, 5], "type": "地名"}]}
    path = write(tmp_path, "a.jsonl", json.dumps(record, ensure_ascii=False) + "\n")
    assert read_span_json(path)[0]["entities"][0]["name"] == "大阪"


def test_read_span_json_allows_blank_texts(tmp_path):
    path = write(tmp_path, "a.jsonl", jsonl([{"text": "", "entities": []}, {"text": "  \t", "entities": []}]))
    assert read_span_json(path) == [{"text": "", "entities": []}, {"text": "  \t", "entities": []}]


def test_read_span_json_drops_and_counts_overlaps(tmp_path, caplog):
    record = {
        "text": "東京都庁へ",
        "entities": [
            {"span": [0, 4], "type": "施設名"},
            {"span": [0, 3], "type": "地名"},  # inside the first
            {"span": [3, 5], "type": "地名"},  # crosses the first's end
            {"span": [4, 5], "type": "地名"},  # adjacent, kept
        ],
    }
    stats = ReadStats()
    with caplog.at_level(logging.WARNING, logger="modeling_xlner.training.data"):
        examples = read_span_json(write(tmp_path, "a.jsonl", jsonl([RECORDS[1], record])), stats)
    assert [(e["start"], e["end"]) for e in examples[1]["entities"]] == [(0, 4), (4, 5)]
    assert stats.n_dropped_overlapping == 2
    assert stats.dropped_overlapping == [(2, 0, 3, "地名"), (2, 3, 5, "地名")]
    assert stats.n_entities == 2
    assert len(caplog.records) == 2 and "overlaps" in caplog.records[0].getMessage()


BAD_ENTITIES = [
    ({"span": ["0", "2"], "type": "地名"}, "pair of integers"),
    ({"span": [0], "type": "地名"}, "pair of integers"),
    ({"span": [0, 1.5], "type": "地名"}, "pair of integers"),
    ({"span": [True, 2], "type": "地名"}, "pair of integers"),
    ({"type": "地名"}, "pair of integers"),
    ({"span": [3, 9], "type": "地名"}, "outside the text"),
    ({"span": [-1, 2], "type": "地名"}, "outside the text"),
    ({"span": [2, 2], "type": "地名"}, "empty"),
    ({"span": [3, 1], "type": "地名"}, "empty"),
    ({"span": [0, 2], "type": "地名", "name": "大阪"}, "'name' is '大阪' but text[0:2] is '東京'"),
    ({"span": [0, 2]}, "'type'"),
    ({"span": [0, 2], "type": ""}, "'type'"),
    ("東京", "expected an object"),
]


@pytest.mark.parametrize("entity, what", BAD_ENTITIES)
def test_read_span_jsonl_bad_entity(tmp_path, entity, what):
    bad = {"text": "東京と大阪", "entities": [{"span": [3, 5], "type": "地名"}, entity]}
    path = write(tmp_path, "a.jsonl", jsonl(RECORDS[:2]) + "\n" + jsonl([bad]))
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "line 4", "entity 2")
    assert what in str(error.value)


@pytest.mark.parametrize("entity, what", BAD_ENTITIES[:3])
def test_read_span_json_array_bad_entity_names_record(tmp_path, entity, what):
    bad = {"text": "東京と大阪", "entities": [entity]}
    path = write(tmp_path, "a.json", json.dumps(RECORDS + [bad], ensure_ascii=False, indent=2))
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "record 4", what)
    assert error.value.record == 4


@pytest.mark.parametrize(
    "line, what",
    [
        ('{"text": "東京", "entities": [', "invalid JSON"),
        ('{"entities": []}', "'text'"),
        ('{"text": 3, "entities": []}', "'text'"),
        ('{"text": "東京"}', "'entities'"),
        ('["東京", []]', "expected a JSON object"),
    ],
)
def test_read_span_jsonl_bad_record(tmp_path, line, what):
    path = write(tmp_path, "a.jsonl", jsonl(RECORDS[:2]) + line + "\n" + jsonl(RECORDS[2:]))
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "line 3", what)


def test_read_span_json_array_invalid_json_names_line(tmp_path):
    path = write(tmp_path, "a.json", '[\n  {"text": "a", "entities": []},\n  {"text": "b" "entities": []}\n]\n')
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "line 3", "invalid JSON")


def test_read_span_json_array_bad_record(tmp_path):
    path = write(tmp_path, "a.json", '[{"text": "a", "entities": []}, {"entities": []}]')
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "record 2", "'text'")


@pytest.mark.parametrize("name, content", [("a.jsonl", ""), ("a.jsonl", "\n \n"), ("a.json", "[]")])
def test_read_span_json_empty(tmp_path, name, content):
    path = write(tmp_path, name, content)
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, str(path), "no records")


# --- load_split / Hub conversion --------------------------------------------------------------


def test_load_split_conll(tmp_path):
    dataset = load_split(write(tmp_path, "train.txt", CONLL))
    assert dataset.column_names == ["tokens", "ner_tags"]
    assert dataset[1] == {"tokens": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"]}


@pytest.mark.parametrize("name", ["a.jsonl", "a.JSON"])
def test_load_split_span_json(tmp_path, name):
    content = jsonl(RECORDS) if name.endswith("l") else json.dumps(RECORDS, ensure_ascii=False)
    stats = ReadStats()
    dataset = load_split(write(tmp_path, name, content), stats)
    assert dataset.column_names == ["text", "entities"]
    assert dataset[0]["entities"] == [{"start": 0, "end": 7, "type": "法人名"}]
    assert stats.n_records == 3


def test_load_split_span_json_without_any_entity_keeps_schema(tmp_path):
    dataset = load_split(write(tmp_path, "a.jsonl", jsonl([RECORDS[1]])))
    assert dataset.features["entities"] == datasets.List(
        {"start": datasets.Value("int32"), "end": datasets.Value("int32"), "type": datasets.Value("string")}
    )


def test_load_split_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_split(tmp_path / "nope.txt")


def test_load_split_unknown_extension(tmp_path):
    path = write(tmp_path, "a.csv", "EU,B-ORG\n")
    with pytest.raises(ValueError, match=r"a\.csv.*'\.csv'.*\.txt"):
        load_split(path)


def test_ner_tags_to_strings_from_class_label():
    names = ["O", "B-PER", "I-PER", "B-LOC"]
    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=names)),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"tokens": [["Peter", "Blackburn", "in", "Paris"], []], "ner_tags": [[1, 2, 0, 3], []]},
        features=features,
    )
    converted = ner_tags_to_strings(dataset)
    assert converted.features["ner_tags"] == datasets.List(datasets.Value("string"))
    assert converted["ner_tags"][:] == [["B-PER", "I-PER", "O", "B-LOC"], []]
    assert ner_tags_to_strings(converted) is converted


def test_ner_tags_to_strings_rejects_unnamed_or_non_iob2_labels():
    plain = datasets.Dataset.from_dict({"ner_tags": [[0, 1]]})
    with pytest.raises(ValueError, match="ClassLabel"):
        ner_tags_to_strings(plain)
    features = datasets.Features({"ner_tags": datasets.List(datasets.ClassLabel(names=["O", "PER"]))})
    with pytest.raises(ValueError, match="PER"):
        ner_tags_to_strings(datasets.Dataset.from_dict({"ner_tags": [[0, 1]]}, features=features))


# --- span <-> BIO projection ------------------------------------------------------------------

#          0         1         2
#          0123456789012345678901234
TEXT = "Mr. New York lives in Rome"
WORDS = [(0, 3), (4, 7), (8, 12), (13, 18), (19, 21), (22, 26)]


def test_projection_round_trip():
    entities = [{"start": 4, "end": 12, "type": "LOC"}, {"start": 22, "end": 26, "type": "LOC"}]
    tags, n_unrepresentable = spans_to_word_tags(WORDS, entities)
    assert tags == ["O", "B-LOC", "I-LOC", "O", "O", "B-LOC"]
    assert n_unrepresentable == 0
    assert word_tags_to_spans(WORDS, tags) == [(4, 12, "LOC"), (22, 26, "LOC")]
    assert [TEXT[s:e] for s, e, _ in word_tags_to_spans(WORDS, tags)] == ["New York", "Rome"]


def test_projection_adjacent_entities_of_one_type_stay_apart():
    entities = [{"start": 4, "end": 7, "type": "LOC"}, {"start": 8, "end": 12, "type": "LOC"}]
    tags, n_unrepresentable = spans_to_word_tags(WORDS, entities)
    assert tags == ["O", "B-LOC", "B-LOC", "O", "O", "O"]
    assert n_unrepresentable == 0
    assert word_tags_to_spans(WORDS, tags) == [(4, 7, "LOC"), (8, 12, "LOC")]


def test_entity_inside_a_word_is_widened_and_counted():
    # Japanese-style: the word 東京都 (0, 3) contains the entity 東京 (0, 2).
    words = [(0, 3), (3, 4), (4, 6)]
    tags, n_unrepresentable = spans_to_word_tags(words, [{"start": 0, "end": 2, "type": "地名"}])
    assert tags == ["B-地名", "O", "O"]
    assert n_unrepresentable == 1
    assert word_tags_to_spans(words, tags) == [(0, 3, "地名")]  # not the gold (0, 2)


@pytest.mark.parametrize(
    "entity, tags",
    [
        ({"start": 5, "end": 12, "type": "LOC"}, ["O", "B-LOC", "I-LOC", "O", "O", "O"]),  # starts mid-word
        ({"start": 3, "end": 7, "type": "LOC"}, ["O", "B-LOC", "O", "O", "O", "O"]),  # starts in a space
        ({"start": 7, "end": 8, "type": "LOC"}, ["O"] * 6),  # only a space: no word
    ],
)
def test_unrepresentable_boundaries(entity, tags):
    assert spans_to_word_tags(WORDS, [entity]) == (tags, 1)


def test_first_entity_keeps_a_contested_word():
    entities = [{"start": 8, "end": 18, "type": "ORG"}, {"start": 4, "end": 12, "type": "LOC"}]
    tags, n_unrepresentable = spans_to_word_tags(WORDS, entities)
    assert tags == ["O", "B-LOC", "B-ORG", "I-ORG", "O", "O"]
    assert n_unrepresentable == 1


def test_entity_split_by_an_earlier_one_restarts_with_b():
    entities = [{"start": 8, "end": 12, "type": "LOC"}, {"start": 4, "end": 18, "type": "LOC"}]
    tags, n_unrepresentable = spans_to_word_tags(WORDS, entities)
    assert tags == ["O", "B-LOC", "B-LOC", "B-LOC", "O", "O"]
    assert n_unrepresentable == 1


def test_word_tags_to_spans_uses_seqeval_chunking():
    tags = ["I-PER", "I-PER", "B-LOC", "I-ORG", "O", "I-LOC"]
    assert word_tags_to_spans(WORDS, tags) == [(0, 7, "PER"), (8, 12, "LOC"), (13, 18, "ORG"), (22, 26, "LOC")]


def test_word_tags_to_spans_matches_seqeval_on_random_tags():
    rng = random.Random(0)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(200):
        n = rng.randint(0, 12)
        tags = [rng.choice(labels) for _ in range(n)]
        offsets = [(2 * i, 2 * i + 1) for i in range(n)]
        expected = [(2 * first, 2 * last + 1, t) for t, first, last in get_entities(list(tags))]
        assert word_tags_to_spans(offsets, tags) == expected


def test_word_tags_to_spans_errors():
    with pytest.raises(ValueError, match="6 word offsets but 1 tags"):
        word_tags_to_spans(WORDS, ["O"])
    with pytest.raises(ValueError, match="PER"):
        word_tags_to_spans(WORDS[:1], ["PER"])


def test_boundary_ceiling():
    words = [WORDS, [(0, 3), (3, 4)], []]
    entities = [
        [{"start": 4, "end": 12, "type": "LOC"}, {"start": 5, "end": 12, "type": "LOC"}],
        [{"start": 0, "end": 2, "type": "地名"}],
        [],
    ]
    assert boundary_ceiling(words, entities) == {"n_gold": 3, "n_representable": 1, "recall_ceiling": 1 / 3}
    assert boundary_ceiling([[]], [[]]) == {"n_gold": 0, "n_representable": 0, "recall_ceiling": 1.0}
    with pytest.raises(ValueError):
        boundary_ceiling([WORDS], [])


# --- the real corpora -------------------------------------------------------------------------


def test_real_conll_valid(shared_data):
    sentences = read_conll(shared_data / "conll2003" / "valid.txt")
    assert len(sentences) == 3250
    assert all(len(s["tokens"]) == len(s["ner_tags"]) > 0 for s in sentences)
    types = {tag[2:] for s in sentences for tag in s["ner_tags"] if tag != "O"}
    assert types == {"PER", "LOC", "ORG", "MISC"}


def test_real_japanese_splits(shared_data):
    folder = shared_data / "ner-wikipedia-ja"
    train_stats, test_stats = ReadStats(), ReadStats()
    train = load_split(folder / "train.jsonl", train_stats)
    test = load_split(folder / "test.jsonl", test_stats)
    assert (len(train), len(test)) == (4274, 535)
    assert sum(len(entities) for entities in test["entities"]) == 1333
    assert (test_stats.n_entities, test_stats.n_dropped_overlapping) == (1333, 0)
    assert train_stats.n_dropped_overlapping == 0


def test_real_japanese_test_round_trips_at_character_level(shared_data):
    # With one word per character every gold span is representable and comes back unchanged.
    examples = read_span_json(shared_data / "ner-wikipedia-ja" / "test.jsonl")
    offsets = [[(i, i + 1) for i in range(len(e["text"]))] for e in examples]
    entities = [e["entities"] for e in examples]
    assert boundary_ceiling(offsets, entities) == {"n_gold": 1333, "n_representable": 1333, "recall_ceiling": 1.0}
    for words, example in zip(offsets, examples):
        tags, _ = spans_to_word_tags(words, example["entities"])
        assert word_tags_to_spans(words, tags) == [(e["start"], e["end"], e["type"]) for e in example["entities"]]


# --- malformed files (issue 6): every problem is an error naming file and line, or counted --------


def test_read_conll_tabs_spaces_and_cr_line_endings(tmp_path):
    expected = read_conll(write(tmp_path, "spaces.txt", CONLL))
    tabs = CONLL.replace(" ", "\t")
    assert read_conll(write(tmp_path, "tabs.txt", tabs)) == expected
    mixed = CONLL.replace("rejects O", "rejects \t O").replace("EU B-ORG", "EU\tB-ORG   ")
    assert read_conll(write(tmp_path, "mixed.txt", mixed)) == expected
    assert read_conll(write(tmp_path, "cr.txt", CONLL.replace("\n", "\r"))) == expected


def test_read_conll_whitespace_only_line_ends_a_sentence(tmp_path):
    sentences = read_conll(write(tmp_path, "a.txt", "EU B-ORG\n \t \nPeter B-PER\n"))
    assert sentences == [{"tokens": ["EU"], "ner_tags": ["B-ORG"]}, {"tokens": ["Peter"], "ner_tags": ["B-PER"]}]


@pytest.mark.parametrize(
    "content, line, what",
    [
        ("EU B-ORG\nNew York B-LOC\n", 2, "3 columns ['New', 'York', 'B-LOC'], but line 1 has 2"),  # token with a space
        ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ O\n", 4, "3 columns"),  # a column missing
        ("EU NNP B-NP B-ORG\n\nPeter B-PER\n", 3, "2 columns ['Peter', 'B-PER'], but line 1 has 4"),
    ],
)
def test_read_conll_inconsistent_column_counts(tmp_path, content, line, what):
    path = write(tmp_path, "a.txt", content)
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, f"line {line}", what)


@pytest.mark.parametrize(
    "cut, what", [("Peter Blackb", "'Blackb' is not a tag"), ("Peter", "one column"), ("Peter ", "one column")]
)
def test_read_conll_truncated_last_line(tmp_path, cut, what):
    path = write(tmp_path, "a.txt", CONLL.split("Peter")[0] + cut)  # the file ends inside a line
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert_names(error, path, "line 8", what)


def test_read_span_jsonl_truncated_file(tmp_path):
    content = jsonl(RECORDS)
    path = write(tmp_path, "a.jsonl", content[: content.rindex("}") - 5])  # the last record is cut
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "line 3", "invalid JSON")


def test_read_span_json_array_truncated_file(tmp_path):
    content = json.dumps(RECORDS, ensure_ascii=False, indent=2)
    path = write(tmp_path, "a.json", content[: len(content) // 2])
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, "line", "invalid JSON")


def test_read_span_json_tabs_and_crlf_inside_text_are_kept(tmp_path):
    record = {"text": "東京\tと\r\n大阪", "entities": [{"span": [6, 8], "type": "地名", "name": "大阪"}]}
    (example,) = read_span_json(write(tmp_path, "a.jsonl", jsonl([record]).replace("\n", "\r\n")))
    assert example["text"] == "東京\tと\r\n大阪" and example["entities"][0]["name"] == "大阪"


def test_read_span_json_duplicate_and_nested_spans_are_counted(tmp_path):
    record = {
        "text": "東京都庁と大阪",
        "entities": [
            {"span": [0, 2], "type": "地名"},
            {"span": [0, 2], "type": "地名"},  # exact duplicate
            {"span": [0, 4], "type": "施設名"},  # contains the first
            {"span": [5, 7], "type": "地名"},
        ],
    }
    stats = ReadStats()
    (example,) = read_span_json(write(tmp_path, "a.jsonl", jsonl([record])), stats)
    assert [(e["start"], e["end"]) for e in example["entities"]] == [(0, 2), (5, 7)]
    assert stats.dropped_overlapping == [(1, 0, 2, "地名"), (1, 0, 4, "施設名")]
    assert stats.n_entities + stats.n_dropped_overlapping == 4  # every entity kept or counted


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n", b"\n\t\n"])
def test_read_span_json_bom_or_blank_only_is_empty(tmp_path, content):
    path = write(tmp_path, "a.jsonl", content)
    with pytest.raises(DataFormatError) as error:
        read_span_json(path)
    assert_names(error, path, str(path), "no records")


def test_read_conll_bom_only_is_empty(tmp_path):
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbf\r\n")
    with pytest.raises(DataFormatError, match="no sentences"):
        read_conll(path)


def test_real_files_nothing_dropped(shared_data):
    # CoNLL: every token line becomes a token (only -DOCSTART- lines and blank lines are skipped).
    path = shared_data / "conll2003" / "test.txt"
    token_lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("-DOCSTART-")]
    sentences = read_conll(path)
    assert len(sentences) == 3453
    assert sum(len(s["tokens"]) for s in sentences) == len(token_lines)
    # Span JSON: every entity is kept or counted as dropped.
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        path = shared_data / "ner-wikipedia-ja" / name
        raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        stats = ReadStats()
        examples = read_span_json(path, stats)
        assert len(examples) == stats.n_records == len(raw)
        assert stats.n_entities + stats.n_dropped_overlapping == sum(len(r["entities"]) for r in raw)
