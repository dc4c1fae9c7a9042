"""Tests for the xlner_seqeval evaluate module (span-level P/R/F1)."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from modeling_xlner.training.data import read_conll
from modeling_xlner.training.metric import SPAN_METRIC_PATH, load_span_metric

from bio_oracle import every_tag_sequence, reference_entities


@pytest.fixture(scope="module")
def metric():
    # keep_in_memory: no Arrow cache files, and nothing shared between test processes.
    return load_span_metric(keep_in_memory=True)


def test_loads_by_directory_path_offline():
    import evaluate

    module = evaluate.load(str(SPAN_METRIC_PATH), keep_in_memory=True)
    assert module.name == "xlner_seqeval"


def test_tags_hand_made(metric):
    references = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predictions = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-LOC"]]
    result = metric.compute(predictions=predictions, references=references)
    # gold: PER(0-1) LOC(3) ORG(1:0); predicted: PER(0-1) ORG(3) ORG(1:0) LOC(1:1); 2 correct.
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (3, 4, 2)
    assert result["precision"] == pytest.approx(2 / 4)
    assert result["recall"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert result["per_type"]["PER"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "n_gold": 1, "n_pred": 1, "n_correct": 1
    }
    assert result["per_type"]["LOC"]["n_gold"] == 1 and result["per_type"]["LOC"]["precision"] == 0.0
    assert result["per_type"]["ORG"]["precision"] == pytest.approx(1 / 2)
    assert list(result["per_type"]) == ["LOC", "ORG", "PER"]


def metric_module():
    """The metric's own file, imported as evaluate imports it (its tag reading is checked below, not seqeval's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("xlner_seqeval_under_test", SPAN_METRIC_PATH / "xlner_seqeval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tag_reading_equals_the_reference_on_every_short_sequence(metric):
    """The entities the metric reads off every tag sequence of length 1 to 5, against a hand-written reading."""
    sequences = list(every_tag_sequence(5))
    expected = {
        (example, first, last, kind) for example, tags in enumerate(sequences) for kind, first, last in reference_entities(tags)
    }
    assert metric_module()._entities_from_tags(sequences) == expected
    # Through the public API: each sequence against its own entities written as IOB2 tags by hand.
    rewritten = [iob2_of(tags) for tags in sequences]
    result = metric.compute(predictions=sequences, references=rewritten)
    # Counted by hand: position 0 starts an entity for 4 of the 5 labels; a later position for 16 of the
    # 25 (previous, this) pairs (B-X after anything: 10; I-X after a label not of type X: 6). Length L
    # gives 4 * 5^(L-1) + (L-1) * 16 * 5^(L-2): 4 + 36 + 260 + 1,700 + 10,500 = 12,500 for L = 1..5.
    assert result["n_gold"] == result["n_pred"] == result["n_correct"] == len(expected) == 12_500


def iob2_of(tags: list[str]) -> list[str]:
    """The reference entities of `tags`, spelt as IOB2 (B- on each first word)."""
    out = ["O"] * len(tags)
    for kind, first, last in reference_entities(tags):
        out[first : last + 1] = [f"B-{kind}"] + [f"I-{kind}"] * (last - first)
    return out


def test_iob2_scores_by_hand(metric):
    references = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC"], ["O", "B-ORG", "I-ORG", "I-ORG"], ["B-MISC"]]
    predictions = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "I-ORG", "I-ORG"], ["I-MISC"]]
    # gold: PER 0-1, LOC 3, LOC 4 | ORG 1-3 | MISC 0                    -> 5 entities
    # pred: PER 0-1 (right), LOC 3-4 (wrong) | ORG 0-3 (wrong) | MISC 0 (right: an I- start) -> 4, 2 right
    # P = 2/4 = 1/2, R = 2/5, F1 = 2 PR / (P + R) = (2/5) / (9/10) = 4/9
    result = metric.compute(predictions=predictions, references=references)
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (5, 4, 2)
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((1 / 2, 2 / 5, 4 / 9))
    # LOC: 0 of 1 predicted right, 0 of 2 gold found; PER and MISC: 1 of 1 both ways; ORG: 0 of 1.
    per_type = {kind: (v["precision"], v["recall"], v["f1"]) for kind, v in result["per_type"].items()}
    assert per_type == {"LOC": (0.0, 0.0, 0.0), "MISC": (1.0, 1.0, 1.0), "ORG": (0.0, 0.0, 0.0), "PER": (1.0, 1.0, 1.0)}


IOB1_GOLD = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["I-ORG", "I-LOC", "O", "I-MISC", "I-MISC"]]
IOB1_PREDICTED = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "B-LOC", "O", "B-MISC", "I-MISC"]]


def test_iob1_scores_by_hand(metric):
    """CoNLL-2003 gold as distributed (IOB1: I- starts an entity, B- only splits two of one type)."""
    # gold: PER 0-1, PER 2 (after B-), LOC 4 | ORG 0, LOC 1, MISC 3-4      -> 6 entities
    # pred: PER 0-2 (wrong: the two gold PER merged), LOC 4 | ORG 0, LOC 1, MISC 3-4 (IOB2 tags) -> 5, 4 right
    # P = 4/5, R = 4/6 = 2/3, F1 = 2 PR / (P + R) = (16/15) / (22/15) = 8/11
    result = metric.compute(predictions=IOB1_PREDICTED, references=IOB1_GOLD)
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (6, 5, 4)
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((4 / 5, 2 / 3, 8 / 11))
    # PER: 0 of 1 predicted right, 0 of 2 found.
    person = result["per_type"]["PER"]
    assert (person["n_pred"], person["n_gold"], person["f1"]) == (1, 2, 0.0)


def test_iob1_file_read_as_iob2_scores_the_same_by_hand(metric, tmp_path):
    """The same IOB1 gold written as a CoNLL file: read (converted to IOB2), it scores the hand-computed 8/11."""
    path = tmp_path / "gold.txt"
    path.write_text("\n".join("".join(f"w{i} {tag}\n" for i, tag in enumerate(tags)) for tags in IOB1_GOLD), encoding="utf-8")
    gold = [sentence["ner_tags"] for sentence in read_conll(path)]
    assert gold[0][:3] == ["B-PER", "I-PER", "B-PER"]  # converted
    result = metric.compute(predictions=IOB1_PREDICTED, references=gold)
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (6, 5, 4)
    assert result["f1"] == pytest.approx(8 / 11)


def test_tags_use_seqeval_chunking(metric):
    # An I- after O starts an entity; a boundary shift is a miss.
    result = metric.compute(predictions=[["O", "I-PER", "I-PER"]], references=[["B-PER", "I-PER", "I-PER"]])
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (1, 1, 0)
    result = metric.compute(predictions=[["I-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])
    assert result["f1"] == 1.0


def test_spans_in_every_accepted_form(metric):
    references = [["0:2:地名", "3:5:地名"], [], ["0:4:人名"]]
    predictions = [
        [{"start": 0, "end": 2, "type": "地名", "name": "東京"}, (3, 6, "地名")],  # second too long
        ["1:2:人名"],
        [{"start": 0, "end": 4, "type": "法人名"}],  # right span, wrong type
    ]
    result = metric.compute(predictions=predictions, references=references)
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (3, 4, 1)
    assert result["precision"] == pytest.approx(1 / 4)
    assert result["recall"] == pytest.approx(1 / 3)
    assert result["per_type"]["地名"] == {
        "precision": 0.5, "recall": 0.5, "f1": 0.5, "n_gold": 2, "n_pred": 2, "n_correct": 1
    }
    assert result["per_type"]["法人名"]["n_gold"] == 0


def test_spans_with_empty_first_example(metric):
    # evaluate infers the input format from the first example; an example without entities
    # must not make later dict spans unreadable.
    result = metric.compute(
        predictions=[[], [{"start": 0, "end": 3, "type": "X"}]], references=[[], [{"start": 0, "end": 3, "type": "X"}]]
    )
    assert result["f1"] == 1.0


def test_duplicates_count_once(metric):
    result = metric.compute(predictions=[["0:3:X", "0:3:X"]], references=[["0:3:X"]])
    assert (result["n_pred"], result["precision"]) == (1, 1.0)


def test_incremental_add_and_add_batch(metric):
    metric.add(prediction=[{"start": 0, "end": 3, "type": "X"}], reference=["0:3:X"])
    metric.add_batch(predictions=[[]], references=[[(4, 5, "Y")]])
    result = metric.compute()
    assert (result["n_gold"], result["n_pred"], result["n_correct"]) == (2, 1, 1)
    assert result["recall"] == 0.5


def test_nothing_to_score(metric):
    result = metric.compute(predictions=[[], ["O"]], references=[[], ["O"]])
    assert result == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "n_gold": 0, "n_pred": 0, "n_correct": 0, "per_type": {}
    }


@pytest.mark.parametrize(
    "predictions, references, match",
    [
        ([["B-X", "0:3:X"]], [[]], "mix IOB2 tags and spans"),
        ([["B-X"]], [["0:1:X"]], "mix IOB2 tags and spans"),
        ([["PER"]], [["O"]], "'PER' is neither"),
        ([["B-X", "O"]], [["O"]], "2 predicted tags but 1 reference tags"),
        ([["3:3:X"]], [[]], "empty span"),
        ([[{"start": 0, "end": 1.5, "type": "X"}]], [[]], "must be integers"),
        ([[{"start": 0, "end": 2}]], [[]], "no 'type'"),
        ([[(0, 2)]], [[]], "expected a tag"),
        (["B-X"], [["B-X"]], "must be a sequence"),
    ],
)
def test_bad_inputs(metric, predictions, references, match):
    with pytest.raises(ValueError, match=match):
        metric.compute(predictions=predictions, references=references)


def perturb(sentences: list[list[str]], labels: list[str], rate: float, rng: random.Random) -> list[list[str]]:
    """Replaces a fraction of the tags at random, which also produces I- tags after O."""
    return [[rng.choice(labels) if rng.random() < rate else tag for tag in tags] for tags in sentences]


def test_equals_seqeval_on_real_conll(metric, shared_data):
    gold = [s["ner_tags"] for s in read_conll(shared_data / "conll2003" / "valid.txt")]
    labels = sorted({tag for tags in gold for tag in tags})
    rng = random.Random(13)
    for rate in (0.0, 0.02, 0.1, 0.5):
        predicted = perturb(gold, labels, rate, rng)
        result = metric.compute(predictions=predicted, references=gold)
        assert result["f1"] == pytest.approx(f1_score(gold, predicted))
        assert result["precision"] == pytest.approx(precision_score(gold, predicted))
        assert result["recall"] == pytest.approx(recall_score(gold, predicted))
    assert result["n_gold"] == 5942  # entities in CoNLL-2003 valid


def test_equals_seqeval_on_random_sequences(metric):
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rng = random.Random(7)
    for _ in range(20):
        gold = [[rng.choice(labels) for _ in range(rng.randint(1, 8))] for _ in range(30)]
        predicted = perturb(gold, labels, 0.3, rng)
        result = metric.compute(predictions=predicted, references=gold)
        with warnings.catch_warnings():  # seqeval warns when a score is undefined
            warnings.simplefilter("ignore")
            assert result["f1"] == pytest.approx(f1_score(gold, predicted))
