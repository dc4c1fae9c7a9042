"""BIO labels, the constraint, Viterbi and decoding (modeling_xlner/decoding_xlner.py), against independent oracles."""

from __future__ import annotations

import itertools

import pytest
import torch
import modeling_xlner.decoding_xlner as decoding
from modeling_xlner import XLNerConfig, XLNerForTokenClassification
from modeling_xlner.training.data import word_tags_to_spans

from bio_oracle import every_tag_sequence, reference_chunks, reference_entities

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def valid(path: list[str]) -> bool:
    """The BIO constraint, written out: an I-X only after B-X or I-X."""
    return all(
        not tag.startswith("I-") or (index > 0 and path[index - 1] in (f"B-{tag[2:]}", tag)) for index, tag in enumerate(path)
    )


def brute_force_best(log_probs: torch.Tensor, length: int, labels: list[str]) -> list[int]:
    """The valid label path of highest total score, by enumerating every path."""
    best, best_path = float("-inf"), []
    for path in itertools.product(range(len(labels)), repeat=length):
        if valid([labels[i] for i in path]):
            score = sum(float(log_probs[position, label]) for position, label in enumerate(path))
            if score > best:
                best, best_path = score, list(path)
    return best_path


def test_viterbi_finds_the_brute_force_best_path():
    generator = torch.Generator().manual_seed(0)
    transitions, start = decoding.bio_transition_scores(dict(enumerate(LABELS)))
    for _ in range(60):
        words = int(torch.randint(1, 6, (1,), generator=generator))
        log_probs = (torch.randn(3, words, len(LABELS), generator=generator) * 2).log_softmax(-1)
        lengths = torch.randint(1, words + 1, (3,), generator=generator)
        mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
        paths = decoding.viterbi_decode(log_probs, mask, transitions, start)
        for row in range(3):
            assert paths[row] == brute_force_best(log_probs[row], int(lengths[row]), LABELS)


def test_transition_scores_by_hand():
    transitions, start = decoding.bio_transition_scores(dict(enumerate(LABELS)))
    forbidden = float("-inf")
    # rows: from O, B-LOC, I-LOC, B-PER, I-PER; columns: to the same labels
    expected = torch.tensor([
        [0, 0, forbidden, 0, forbidden],
        [0, 0, 0, 0, forbidden],
        [0, 0, 0, 0, forbidden],
        [0, 0, forbidden, 0, 0],
        [0, 0, forbidden, 0, 0],
    ])  # fmt: skip
    assert torch.equal(transitions, expected)
    assert torch.equal(start, torch.tensor([0, 0, forbidden, 0, forbidden]))


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
        (["I-PER", "I-PER", "B-PER", "I-LOC"], [("PER", 0, 1), ("PER", 2, 2), ("LOC", 3, 3)]),
        (["O", "O"], []),
        ([], []),
        (["B-政治的組織名", "I-政治的組織名", "I-人名"], [("政治的組織名", 0, 1), ("人名", 2, 2)]),
    ],
)
def test_entity_chunks_by_hand(tags, expected):
    assert decoding.entity_chunks(tags) == expected
    assert reference_entities(tags) == expected  # the brute-force test below trusts this reference


def test_chunks_equal_the_reference_on_every_short_sequence():
    """Every tag sequence of length 1 to 5 over O, B-A, I-A, B-B, I-B (valid or not): entities, O runs, char spans."""
    for tags in every_tag_sequence(5):
        entities = reference_entities(tags)
        assert decoding.entity_chunks(tags) == entities, tags
        assert decoding.chunks(tags) == reference_chunks(tags), tags
        # Word i covers characters [3i, 3i + 2): a span runs from its first word's start to its last word's end.
        offsets = [(3 * i, 3 * i + 2) for i in range(len(tags))]
        assert word_tags_to_spans(offsets, tags) == [(3 * first, 3 * last + 2, kind) for kind, first, last in entities]


def test_o_runs_are_chunks_of_their_own():
    expected = [("O", 0, 1), ("A", 2, 2), ("O", 3, 3)]
    assert decoding.chunks(["O", "O", "B-A", "O"]) == expected == reference_chunks(["O", "O", "B-A", "O"])


def test_label_parsing():
    assert decoding.split_label("B-PER") == ("B", "PER") and decoding.split_label("O") == (None, "O")
    assert [decoding.is_bio_label(t) for t in ("O", "B-X", "I-X", "E-X", "B-", "x", None)] == [True, True, True, False, False, False, False]
    assert decoding.bio_labels(["PER", "LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert decoding.entity_types(["O", "B-PER", "I-PER", "B-LOC"]) == ["PER", "LOC"]


def test_decode_follows_the_bio_constraint():
    config = XLNerConfig(id2label={0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}, word_vocab_size=4, bigram_vocab_size=4)
    model = XLNerForTokenClassification(config)
    # Per word, the argmax would read "I-PER I-PER O B-LOC I-PER": two invalid I- starts.
    scores = torch.tensor([[0.0, 1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 1.5, 0.0, 1.0]])  # fmt: skip
    logits = torch.stack([scores, scores])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    assert model.decode(logits, mask) == [[1, 2, 0, 3, 4], [1, 2]]
    model.config.constrained_decoding = False
    assert model.decode(logits, mask) == [[2, 2, 0, 3, 2], [2, 2]]



def test_decode_equals_viterbi_on_every_sentence():
    """`decode` keeps the argmax path where it is valid and runs Viterbi elsewhere: the same paths."""
    config = XLNerConfig(id2label=dict(enumerate(LABELS)), word_vocab_size=4, bigram_vocab_size=4)
    model = XLNerForTokenClassification(config)
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 12, len(LABELS), generator=generator) * 3
    logits[:100, :, 0] += 4  # mostly "O": argmax paths that are valid
    mask = (torch.arange(12) < torch.randint(1, 13, (200, 1), generator=generator)).long()
    transitions, start = decoding.bio_transition_scores(config.id2label)
    expected = decoding.viterbi_decode(logits.log_softmax(dim=-1), mask, transitions, start)
    assert model.decode(logits, mask) == expected
    assert any(path == row[: len(path)] for path, row in zip(expected, logits.argmax(dim=-1).tolist()))

def test_decode_finds_the_brute_force_best_valid_path():
    """The model's `decode` against every valid path scored by hand (not against `viterbi_decode`, which it calls)."""
    config = XLNerConfig(id2label=dict(enumerate(LABELS)), word_vocab_size=4, bigram_vocab_size=4)
    model = XLNerForTokenClassification(config)
    generator = torch.Generator().manual_seed(3)
    argmax_valid = 0
    for trial in range(80):
        words = int(torch.randint(1, 6, (1,), generator=generator))
        logits = torch.randn(4, words, len(LABELS), generator=generator) * 3
        if trial % 2:
            logits[:, :, 0] += 2  # more "O": rows whose per-word argmax is valid take decode's shortcut
        lengths = torch.randint(0, words + 1, (4,), generator=generator)
        mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
        log_probs = logits.log_softmax(dim=-1)
        paths = model.decode(logits, mask)
        for row in range(4):
            length = int(lengths[row])
            expected = brute_force_best(log_probs[row], length, LABELS) if length else []
            assert paths[row] == expected, (trial, row)
            argmax_valid += bool(length) and valid([LABELS[i] for i in logits[row, :length].argmax(-1).tolist()])
    assert 20 < argmax_valid < 300  # both of decode's branches ran (argmax kept, Viterbi)


def viterbi_with_tensor_backtrack(log_probs, attention_mask, transitions, start):
    """`viterbi_decode` as first written: the backtrack indexes the pointer tensors word by word."""
    batch_size, num_words, _ = log_probs.shape
    lengths = attention_mask.sum(dim=-1).tolist()
    score = log_probs[:, 0] + start
    backpointers = []
    for position in range(1, num_words):
        best, pointer = (score[:, :, None] + transitions).max(dim=1)
        active = attention_mask[:, position, None].bool()
        score = torch.where(active, best + log_probs[:, position], score)
        backpointers.append(pointer)
    paths = []
    for row in range(batch_size):
        length = int(lengths[row])
        if length == 0:
            paths.append([])
            continue
        path = [int(score[row].argmax())]
        for pointer in reversed(backpointers[: length - 1]):
            path.append(int(pointer[row, path[-1]]))
        paths.append(path[::-1])
    return paths


def test_viterbi_backtrack_on_lists_is_the_same():
    id2label = {0: "O", 1: "B-A", 2: "I-A", 3: "B-B", 4: "I-B"}
    transitions, start = decoding.bio_transition_scores(id2label)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        batch, words = int(torch.randint(1, 9, (1,), generator=generator)), int(torch.randint(1, 30, (1,), generator=generator))
        log_probs = torch.randn(batch, words, 5, generator=generator).log_softmax(-1)
        lengths = torch.randint(0, words + 1, (batch,), generator=generator)
        mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
        assert decoding.viterbi_decode(log_probs, mask, transitions, start) == viterbi_with_tensor_backtrack(
            log_probs, mask, transitions, start
        )


def brute_force_best_scored(scores, length, transitions, start, end, labels):
    """The valid path of highest start + transition + word + end score, by enumerating every path."""
    paths = [path for path in itertools.product(range(len(labels)), repeat=length) if valid([labels[i] for i in path])]

    def total(path):
        words = sum(float(scores[t, label]) for t, label in enumerate(path))
        return float(start[path[0]]) + words + sum(float(transitions[a, b]) for a, b in zip(path, path[1:])) + float(end[path[-1]])

    return list(max(paths, key=total)) if length else []


def test_viterbi_with_end_scores_finds_the_brute_force_best_path():
    generator = torch.Generator().manual_seed(1)
    constraint, start_constraint = decoding.bio_transition_scores(dict(enumerate(LABELS)))
    for _ in range(40):
        words = int(torch.randint(1, 5, (1,), generator=generator))
        scores = torch.randn(3, words, len(LABELS), generator=generator)
        transitions, start, end = (torch.randn(shape, generator=generator) for shape in ((5, 5), (5,), (5,)))
        lengths = torch.randint(0, words + 1, (3,), generator=generator)
        mask = (torch.arange(words)[None, :] < lengths[:, None]).long()
        paths = decoding.viterbi_decode(scores, mask, transitions + constraint, start + start_constraint, end)
        for row in range(3):
            assert paths[row] == brute_force_best_scored(scores[row], int(lengths[row]), transitions, start, end, LABELS)


def test_end_scores_apply_to_each_sentences_last_word():
    scores = torch.tensor([[[1.0, 0.9], [1.0, 0.9]]]).repeat(2, 1, 1)
    mask, zeros = torch.tensor([[1, 1], [1, 0]]), torch.zeros(2, 2)
    assert decoding.viterbi_decode(scores, mask, zeros, torch.zeros(2)) == [[0, 0], [0]]
    assert decoding.viterbi_decode(scores, mask, zeros, torch.zeros(2), torch.tensor([0.0, 0.5])) == [[0, 1], [1]]
