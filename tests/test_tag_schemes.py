"""Tag schemes of CoNLL files (modeling_xlner/training/tag_schemes.py): detected per file, read as IOB2."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from modeling_xlner.training.data import DataFormatError, ReadStats, read_conll
from modeling_xlner.training.tag_schemes import TagSchemeError, detect_scheme, to_iob2


def write_iob1(iob2: list[str]) -> list[str]:
    """The IOB1 spelling of IOB2 tags, written out independently: B- only right after the same type."""
    out = []
    for index, tag in enumerate(iob2):
        if tag.startswith("B-") and not (index and iob2[index - 1] != "O" and iob2[index - 1][2:] == tag[2:]):
            tag = "I-" + tag[2:]
        out.append(tag)
    return out


def write_bioes(iob2: list[str]) -> list[str]:
    """The BIOES spelling of IOB2 tags: S- for single words, E- for the last word of a longer entity."""
    out = []
    for index, tag in enumerate(iob2):
        last = index + 1 == len(iob2) or iob2[index + 1] != "I-" + tag[2:]
        if tag.startswith("B-"):
            tag = ("S-" if last else "B-") + tag[2:]
        elif tag.startswith("I-") and last:
            tag = "E-" + tag[2:]
        out.append(tag)
    return out


def lines(sentences):
    return [[10 * s + w for w in range(len(tags))] for s, tags in enumerate(sentences)]


@pytest.mark.parametrize(
    "tags, scheme, expected",
    [
        (["I-PER", "I-PER", "O", "I-LOC"], "IOB1", ["B-PER", "I-PER", "O", "B-LOC"]),
        (["I-PER", "B-PER", "I-LOC"], "IOB1", ["B-PER", "B-PER", "B-LOC"]),
        (["S-PER", "B-LOC", "E-LOC", "O"], "BIOES", ["B-PER", "B-LOC", "I-LOC", "O"]),
        (["U-PER", "B-LOC", "I-LOC", "L-LOC"], "BILOU", ["B-PER", "B-LOC", "I-LOC", "I-LOC"]),
        (["B-PER", "I-PER", "B-PER"], "IOB2", ["B-PER", "I-PER", "B-PER"]),
    ],
)
def test_conversion_by_hand(tags, scheme, expected):
    assert detect_scheme([tags], lines([tags])) == scheme
    assert to_iob2(tags, scheme) == expected


def test_every_short_sequence_keeps_its_entities():
    """For every IOB2 sequence up to length 5: its IOB1 and BIOES spellings read back to it (seqeval's entities as oracle)."""
    tags = ["O", "B-A", "I-A", "B-B", "I-B"]
    for length in range(1, 6):
        for sequence in itertools.product(tags, repeat=length):
            iob2 = list(sequence)
            if any(t.startswith("I-") and (i == 0 or iob2[i - 1][2:] != t[2:]) for i, t in enumerate(iob2)):
                continue  # not valid IOB2
            assert to_iob2(write_iob1(iob2), "IOB1") == iob2
            assert to_iob2(write_bioes(iob2), "BIOES") == iob2
            assert get_entities(write_iob1(iob2)) == get_entities(iob2) == get_entities(write_bioes(iob2))


def test_mixed_schemes_name_the_line():
    iob1_then_iob2 = [["I-PER", "O"], ["O", "B-LOC"]]
    with pytest.raises(TagSchemeError, match="mixes IOB1") as caught:
        detect_scheme(iob1_then_iob2, lines(iob1_then_iob2))
    assert caught.value.line == 11
    bioes_and_bilou = [["S-PER"], ["U-LOC"]]
    with pytest.raises(TagSchemeError, match="BILOU") as caught:
        detect_scheme(bioes_and_bilou, lines(bioes_and_bilou))
    assert caught.value.line == 10


@pytest.mark.parametrize(
    "tags, line, message",
    [(["E-PER"], 0, "no B-PER opened"), (["B-PER", "O", "S-LOC"], 1, "before the B-PER entity was closed"),
     (["S-PER", "B-LOC"], 1, "never closed"), (["B-PER", "E-LOC"], 1, "no B-LOC opened")],
)  # fmt: skip
def test_bioes_entities_must_be_spelled_out(tags, line, message):
    with pytest.raises(TagSchemeError, match=message) as caught:
        detect_scheme([tags], lines([tags]))
    assert caught.value.line == line


def test_files_are_read_as_iob2(tmp_path):
    rows = [("EU", "I-ORG"), ("rejects", "O"), ("German", "I-MISC"), ("call", "O"), ("", ""), ("Peter", "I-PER"), ("Blackburn", "I-PER")]
    path = tmp_path / "eng.train"
    path.with_suffix(".txt").write_text("".join(f"{t} NNP I-NP {g}\n" if t else "\n" for t, g in rows), encoding="utf-8")
    stats = ReadStats()
    sentences = read_conll(path.with_suffix(".txt"), stats)
    assert stats.tag_scheme == "IOB1"
    assert [s["ner_tags"] for s in sentences] == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("EU I-ORG\nrejects O\n\nPeter B-PER\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"mixed.txt, line 4: mixes IOB1"):
        read_conll(mixed)
    with pytest.raises(DataFormatError, match="line 1: tag 'X-ORG' is not a tag"):
        (tmp_path / "bad.txt").write_text("EU X-ORG\n", encoding="utf-8")
        read_conll(tmp_path / "bad.txt")


def test_conll_2003_in_every_scheme_reads_the_same(shared_data, tmp_path):
    iob2 = read_conll(shared_data / "conll2003" / "train.txt")
    for name, spell in (("iob1", write_iob1), ("bioes", write_bioes)):
        path = tmp_path / f"train.{name}.txt"
        path.write_text(
            "\n".join("".join(f"{t} {g}\n" for t, g in zip(s["tokens"], spell(s["ner_tags"]))) for s in iob2), encoding="utf-8"
        )
        stats = ReadStats()
        assert read_conll(path, stats) == iob2
        assert stats.tag_scheme == name.upper()


# --- the must-show of issue 15: one corpus in three schemes trains and scores the same ------------------

SCHEME_WRITERS = {
    "iob2": lambda tokens, tags: "".join(f"{t} {g}\n" for t, g in zip(tokens, tags)),
    # As eng.train is distributed: four columns (POS and chunk are placeholders here; the reader takes the last).
    "iob1": lambda tokens, tags: "".join(f"{t} NN I-NP {g}\n" for t, g in zip(tokens, write_iob1(tags))),
    "bioes": lambda tokens, tags: "".join(f"{t} {g}\n" for t, g in zip(tokens, write_bioes(tags))),
}
DOCSTART = {"iob2": "-DOCSTART- O\n\n", "iob1": "-DOCSTART- -X- -X- O\n\n", "bioes": "-DOCSTART- O\n\n"}


def write_scheme(sentences: list[dict], scheme: str, path: Path) -> Path:
    body = "\n".join(SCHEME_WRITERS[scheme](s["tokens"], s["ner_tags"]) for s in sentences)
    path.write_text(DOCSTART[scheme] + body, encoding="utf-8")
    return path


@pytest.mark.slow
def test_conll_2003_in_every_scheme_trains_and_evaluates_the_same(shared_data, tmp_path):
    """The first 300 CoNLL-2003 training sentences as IOB2, as 4-column IOB1 and as BIOES (validation and test
    rewritten alike): same seed, one thread, the same metrics to the last bit; `xlner evaluate` scores the
    three forms of the test set alike."""
    from test_training import comparable, run_cli

    folder = shared_data / "conll2003"
    splits = {name: read_conll(folder / f"{name}.txt")[:size] for name, size in (("train", 300), ("valid", 200), ("test", 200))}
    files = {
        (scheme, split): write_scheme(sentences, scheme, tmp_path / f"{split}.{scheme}.txt")
        for scheme in SCHEME_WRITERS
        for split, sentences in splits.items()
    }
    results = {}
    for scheme in SCHEME_WRITERS:
        output = tmp_path / f"model-{scheme}"
        run_cli(
            "train", "--lang", "en", "--train", str(files[scheme, "train"]), "--validation", str(files[scheme, "valid"]),
            "--test", str(files[scheme, "test"]), "--output-dir", str(output),  # GloVe: without, 2 epochs learn nothing
            "--epochs", "2", "--batch-size", "16", "--learning-rate", "5e-3", "--threads", "1", "--seed", "3",
        )  # fmt: skip
        results[scheme] = json.loads((output / "results.json").read_text(encoding="utf-8"))
        assert results[scheme]["tag_schemes"] == dict.fromkeys(("train", "validation", "test"), scheme.upper())
    assert comparable(results["iob1"]) == comparable(results["iob2"]) == comparable(results["bioes"])
    # It learnt (test F1 0.472, validation 0.328): equal zeros would show nothing.
    assert results["iob2"]["test"]["f1"] > 0.25, results["iob2"]["test"]

    scores = {}
    for scheme in SCHEME_WRITERS:
        stdout = run_cli("evaluate", "--model", str(tmp_path / "model-iob2"), "--data", str(files[scheme, "test"]))
        scores[scheme] = json.loads(stdout.strip().splitlines()[-1])  # the last line is the JSON object
    assert scores["iob1"] == scores["iob2"] == scores["bioes"]
    assert scores["iob2"]["f1"] == results["iob2"]["test"]["f1"] and scores["iob2"]["n_gold"] == results["iob2"]["test"]["n_gold"]
