"""The CRF head (modeling_xlner/crf_xlner.py) against brute force: every label path enumerated and scored by hand."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from modeling_xlner.crf_xlner import XLNerCRF

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
ID2LABEL = dict(enumerate(LABELS))


def valid(path: tuple[int, ...]) -> bool:
    """The BIO constraint, written out: an I-X only right after B-X or I-X."""
    tags = [LABELS[i] for i in path]
    return all(
        not tag.startswith("I-") or (index > 0 and tags[index - 1] in (f"B-{tag[2:]}", tag)) for index, tag in enumerate(tags)
    )


def valid_paths(length: int) -> list[tuple[int, ...]]:
    return [path for path in itertools.product(range(len(LABELS)), repeat=length) if valid(path)]


def path_score(crf: XLNerCRF, emissions: list[list[float]], path: tuple[int, ...]) -> float:
    """start + emissions + transitions + end of one path, in plain Python."""
    transitions, start, end = crf.transitions.tolist(), crf.start_transitions.tolist(), crf.end_transitions.tolist()
    score = start[path[0]] + end[path[-1]] + sum(emissions[t][label] for t, label in enumerate(path))
    return score + sum(transitions[a][b] for a, b in zip(path, path[1:]))


def logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def random_crf(generator: torch.Generator) -> XLNerCRF:
    crf = XLNerCRF(ID2LABEL)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return crf


def batch(lengths: list[int], generator: torch.Generator, padding_label: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """Random emissions, a right-padded mask, random valid gold paths (junk labels at padding)."""
    width = max(lengths + [1])
    emissions = torch.randn(len(lengths), width, len(LABELS), generator=generator) * 2
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    labels = torch.full((len(lengths), width), padding_label)
    golds = []
    for row, length in enumerate(lengths):
        paths = valid_paths(length) if length else [()]
        gold = paths[int(torch.randint(len(paths), (1,), generator=generator))]
        labels[row, :length] = torch.tensor(gold, dtype=torch.long)
        golds.append(gold)
    return emissions, mask, labels, golds


def brute_force_nll(crf: XLNerCRF, emissions: torch.Tensor, length: int, labels: list[int]) -> float:
    """-log P(labels) over valid paths, -100 meaning any label (the sum over consistent paths)."""
    rows, paths = emissions.tolist(), valid_paths(length)
    everything = logsumexp([path_score(crf, rows, path) for path in paths])
    consistent = [path for path in paths if all(gold in (-100, label) for gold, label in zip(labels, path))]
    return everything - logsumexp([path_score(crf, rows, path) for path in consistent])


def test_parameters_start_at_zero_and_only_they_are_saved():
    crf = XLNerCRF(ID2LABEL)
    assert set(crf.state_dict()) == {"transitions", "start_transitions", "end_transitions"}
    assert all(not parameter.any() for parameter in crf.parameters())
    assert crf.transitions.shape == (5, 5) and crf.start_transitions.shape == crf.end_transitions.shape == (5,)


@pytest.mark.parametrize("lengths", [[4], [3, 1, 4, 2], [2, 0, 1], [1, 1, 1]])
def test_nll_equals_brute_force(lengths):
    generator = torch.Generator().manual_seed(sum(lengths))
    for _ in range(3):
        crf = random_crf(generator)
        emissions, mask, labels, golds = batch(lengths, generator)
        expected = [brute_force_nll(crf, emissions[row], n, list(golds[row])) for row, n in enumerate(lengths) if n]
        assert crf(emissions, labels, mask).item() == pytest.approx(sum(expected) / len(expected), abs=1e-4)


def test_partial_labels_sum_over_consistent_paths():
    generator = torch.Generator().manual_seed(1)
    lengths = [4, 3, 2, 1]
    for _ in range(3):
        crf = random_crf(generator)
        emissions, mask, labels, _ = batch(lengths, generator, padding_label=-100)
        labels[0, 1] = labels[0, 2] = labels[1, 0] = labels[3, 0] = -100  # row 3: all unknown, NLL 0
        expected = [brute_force_nll(crf, emissions[row], n, labels[row, :n].tolist()) for row, n in enumerate(lengths)]
        assert expected[3] == pytest.approx(0.0, abs=1e-9)
        assert crf(emissions, labels, mask).item() == pytest.approx(sum(expected) / 4, abs=1e-4)


def test_gradient_is_marginals_minus_gold():
    """d NLL / d emission[t, l] = P(label l at t) - [gold label at t is l], marginals by brute force."""
    generator = torch.Generator().manual_seed(2)
    crf = random_crf(generator)
    emissions, mask, labels, golds = batch([3, 2], generator)
    emissions.requires_grad_(True)
    crf(emissions, labels, mask).backward()
    for row, length in enumerate([3, 2]):
        paths = valid_paths(length)
        scores = [path_score(crf, emissions[row].tolist(), path) for path in paths]
        log_z = logsumexp(scores)
        expected = torch.zeros(emissions.shape[1:])
        for path, score in zip(paths, scores):
            for t, label in enumerate(path):
                expected[t, label] += math.exp(score - log_z)
        for t, label in enumerate(golds[row]):
            expected[t, label] -= 1
        torch.testing.assert_close(emissions.grad[row], expected / 2, atol=1e-5, rtol=1e-4)


def test_gradients_are_finite_with_the_constraint():
    generator = torch.Generator().manual_seed(3)
    crf = random_crf(generator)
    emissions = torch.randn(3, 4, 5, generator=generator, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]])
    # Forbidden gold paths: I-PER first; O → I-LOC; and unknown labels around them.
    labels = torch.tensor([[2, 2, 0, 4], [-100, 4, 7, -100], [2, -100, 9, 4]])
    loss = crf(emissions, labels, mask)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 1000  # each forbidden step costs 10000
    assert torch.isfinite(emissions.grad).all()
    assert all(torch.isfinite(parameter.grad).all() for parameter in crf.parameters())


@pytest.mark.parametrize("width", [0, 3])
def test_all_empty_batch_gives_zero_loss_with_a_grad(width):
    crf = random_crf(torch.Generator().manual_seed(4))
    emissions = torch.randn(2, width, 5, requires_grad=True)
    loss = crf(emissions, torch.full((2, width), -100), torch.zeros(2, width, dtype=torch.long))
    assert loss.item() == 0.0 and loss.requires_grad and loss.grad_fn is not None
    loss.backward()
    assert all(parameter.grad is None or not parameter.grad.any() for parameter in crf.parameters())
    assert crf.decode(emissions, torch.zeros(2, width, dtype=torch.long)) == [[], []]


def brute_force_best(crf: XLNerCRF, emissions: torch.Tensor, length: int) -> list[int]:
    rows = emissions.tolist()
    return list(max(valid_paths(length), key=lambda path: path_score(crf, rows, path))) if length else []


def test_decode_returns_the_brute_force_best_valid_path():
    generator = torch.Generator().manual_seed(5)
    for _ in range(20):
        crf = random_crf(generator)
        lengths = torch.randint(0, 5, (4,), generator=generator).tolist()
        emissions, mask, _, _ = batch(lengths, generator)
        assert crf.decode(emissions, mask) == [brute_force_best(crf, emissions[row], n) for row, n in enumerate(lengths)]


def test_decode_uses_the_learned_transitions():
    crf = XLNerCRF(ID2LABEL)
    emissions = torch.tensor([[[0.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.5, 0.0, 0.0]]])
    mask = torch.ones(1, 2, dtype=torch.long)
    assert crf.decode(emissions, mask) == [[1, 0]]  # B-PER O, on emissions alone
    with torch.no_grad():
        crf.transitions[1, 2] = 1.0  # B-PER → I-PER learned as likely
    assert crf.decode(emissions, mask) == [[1, 2]]
    with torch.no_grad():
        crf.end_transitions[2] = -2.0  # ... but a bad way to end a sentence
    assert crf.decode(emissions, mask) == [[1, 0]]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_emissions(dtype):
    generator = torch.Generator().manual_seed(6)
    crf = random_crf(generator)
    emissions, mask, labels, golds = batch([4, 2], generator)
    emissions = emissions.to(dtype).requires_grad_(True)
    loss = crf(emissions, labels, mask)
    assert loss.dtype == torch.float32
    rounded = emissions.detach().float()
    expected = [brute_force_nll(crf, rounded[row], n, list(golds[row])) for row, n in enumerate([4, 2])]
    assert loss.item() == pytest.approx(sum(expected) / 2, abs=1e-4)
    loss.backward()
    assert emissions.grad.dtype == dtype and torch.isfinite(emissions.grad.float()).all()
    assert crf.decode(emissions, mask) == [brute_force_best(crf, rounded[row], n) for row, n in enumerate([4, 2])]

