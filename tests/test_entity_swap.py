"""benchmarks/entity_swap.py: swapped copies keep every span on its text; the English names are the transliterations."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from modeling_xlner.training.data import SPAN_FEATURES, load_data
from modeling_xlner.transfer_xlner import DEFAULT_LABEL_MAP

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from entity_swap import (  # noqa: E402
    EntityLexicon, conll_mentions, english_entity_lexicon, katakana_name, one_to_one_types, swap_entities, swap_mentions,
)  # fmt: skip

TEXT = "田中は東京でソニーに入った"
ENTITIES = [{"start": 0, "end": 2, "type": "人名"}, {"start": 3, "end": 5, "type": "地名"}, {"start": 6, "end": 9, "type": "法人名"}]


def test_a_swapped_mention_shifts_the_spans_after_it():
    text, entities, swapped = swap_mentions(TEXT, ENTITIES, {"人名": ["ポール・ブロック"]}, 1.0, random.Random(0))
    assert (text, swapped) == ("ポール・ブロックは東京でソニーに入った", 1)
    # Offsets counted by hand: the name is 8 characters, 6 more than 田中.
    assert entities == [{"start": 0, "end": 8, "type": "人名"}, {"start": 9, "end": 11, "type": "地名"}, {"start": 12, "end": 15, "type": "法人名"}]
    assert [text[e["start"] : e["end"]] for e in entities] == ["ポール・ブロック", "東京", "ソニー"]


def test_rate_zero_swaps_nothing():
    assert swap_mentions(TEXT, ENTITIES, {"人名": ["ポール"], "地名": ["ロンドン"]}, 0.0, random.Random(0)) == (TEXT, ENTITIES, 0)


def test_only_the_types_english_maps_one_to_one_are_swapped():
    assert one_to_one_types(DEFAULT_LABEL_MAP) == {"人名": "PER", "地名": "LOC"}


def test_the_lexicon_holds_each_name_once_and_leaves_out_names_with_an_untransliterable_word():
    transliterations = {"paul": "ポール", "block": "ブロック", "london": "ロンドン", "ibm": "アイビーエム"}
    mentions = [(["Paul", "Block"], "PER"), (["Paul", "Block"], "PER"), (["Paul", "Xyzzy"], "PER"), (["London"], "LOC"), (["IBM"], "ORG")]
    lexicon = english_entity_lexicon(mentions, transliterations, {"人名": "PER", "地名": "LOC"})
    assert lexicon.names == {"人名": ["ポール・ブロック"], "地名": ["ロンドン"]}
    assert lexicon.source_names == {"PER": 2, "LOC": 1} and lexicon.untransliterable == {"PER": 1}
    assert katakana_name(["Paul", "Xyzzy"], transliterations) is None


def test_conll_mentions_read_the_iob2_entities():
    sentence = {"tokens": ["Paul", "Block", "visited", "New", "York", "."], "ner_tags": ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]}
    assert list(conll_mentions([sentence])) == [(["Paul", "Block"], "PER"), (["New", "York"], "LOC")]


def test_swapped_copies_follow_the_originals_and_copies_without_a_swap_are_dropped():
    rows = [{"text": TEXT, "entities": ENTITIES}, {"text": "ソニーの本社", "entities": [{"start": 0, "end": 3, "type": "法人名"}]}]
    train = datasets.Dataset.from_list(rows, features=SPAN_FEATURES)
    swapped_train, swapped = swap_entities(train, EntityLexicon({"地名": ["ロンドン"]}), copies=2, rate=1.0, seed=0)
    assert swapped == 2 and len(swapped_train) == 4  # two originals, two copies of the first text only
    assert swapped_train["text"][:2] == [TEXT, "ソニーの本社"]
    assert swapped_train["text"][2:] == ["田中はロンドンでソニーに入った"] * 2


def test_word_data_is_refused():
    train = datasets.Dataset.from_list([{"tokens": ["a"], "ner_tags": ["O"]}])
    with pytest.raises(ValueError, match="span data"):
        swap_entities(train, EntityLexicon({"人名": ["ポール"]}), 1, 1.0, 0)


def test_the_written_file_reads_back_with_every_name_on_its_span(tmp_path):
    train_file, conll, output = tmp_path / "train.jsonl", tmp_path / "en.txt", tmp_path / "swap.jsonl"
    spans = [{"name": TEXT[e["start"] : e["end"]], "span": [e["start"], e["end"]], "type": e["type"]} for e in ENTITIES]
    train_file.write_text(json.dumps({"text": TEXT, "entities": spans}, ensure_ascii=False) + "\n", encoding="utf-8")
    conll.write_text("London NNP B-NP B-LOC\nis VBZ B-VP O\n\n", encoding="utf-8")
    tsv = tmp_path / "kana.tsv"
    tsv.write_text("london\tロンドン\n", encoding="utf-8")
    command = [sys.executable, str(BENCHMARKS / "entity_swap.py"), "--train", str(train_file), "--conll", str(conll),
               "--copies", "1", "--rate", "1.0", "--transliterations", str(tsv), "--output", str(output)]  # fmt: skip
    printed = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert printed["swapped_mentions"] == 1 and printed["lexicon"]["names"] == {"地名": 1}
    swapped = load_data(str(output))  # the reader checks that each name is the text it spans
    assert swapped["text"] == [TEXT, "田中はロンドンでソニーに入った"]
