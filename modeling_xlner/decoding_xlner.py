"""BIO labels: parsing, the BIO constraint as transition scores, Viterbi, decoding, and tags → chunks.

Used by the model (`decode`), the pipeline (entities), transfer (label alignment) and the data and
training code, so that a label is read one way everywhere. Remote code: copied flat beside
modeling_xlner.py, it needs nothing but torch (Viterbi and chunking are hand-written for that reason).
"""

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

import torch

OUTSIDE = "O"
_LABEL = re.compile(r"([A-Z])-(.+)")


@functools.lru_cache(maxsize=4096)  # a tagger has few labels, and the pipeline splits one per word
def split_label(label: str) -> tuple[str | None, str]:
    """`"B-PER"` → `("B", "PER")`; `"O"` (or any label without a one-letter prefix) → `(None, "O")`."""
    match = _LABEL.fullmatch(label)
    return (match.group(1), match.group(2)) if match else (None, label)


def is_bio_label(label: object) -> bool:
    """Whether `label` is `O`, `B-<type>` or `I-<type>` with a non-empty type."""
    return isinstance(label, str) and (label == OUTSIDE or split_label(label)[0] in ("B", "I"))


def entity_types(labels: Iterable[str]) -> list[str]:
    """The entity types of `labels`, in order of first appearance (`["O", "B-PER", "I-PER"]` → `["PER"]`)."""
    types: dict[str, None] = {}
    for label in labels:
        prefix, name = split_label(label)
        if prefix is not None:
            types.setdefault(name)
    return list(types)


def bio_labels(types: Iterable[str]) -> list[str]:
    """The label set of a tagger for `types`: "O" first, then B- and I- of each type, types sorted."""
    return [OUTSIDE] + [f"{prefix}-{name}" for name in sorted(set(types)) for prefix in ("B", "I")]


def bio_transition_scores(id2label: Mapping[int, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive scores (0 or -inf) that forbid `I-X` except after `B-X` or `I-X`, and at the start."""
    parts = [split_label(id2label[index]) for index in range(len(id2label))]
    inside = torch.tensor([prefix == "I" for prefix, _ in parts])
    same_type = torch.tensor([[pa is not None and a == b for _, b in parts] for pa, a in parts])
    transitions = torch.where(inside[None, :] & ~same_type, float("-inf"), 0.0)
    start = torch.where(inside, float("-inf"), 0.0)
    return transitions, start


def viterbi_decode(
    scores: torch.Tensor,
    attention_mask: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor | None = None,
) -> list[list[int]]:
    """Best label path per sentence (batch-vectorised Viterbi); one list of label ids per row, cut to its length.

    A path scores `start[first] + Σ transitions[from, to] + Σ scores[word, label]`, plus `end[last]`
    (its last real word's label) when `end` `(labels,)` is given.
    """
    batch_size, num_words, _ = scores.shape
    lengths = attention_mask.sum(dim=-1).tolist()
    score = scores[:, 0] + start
    backpointers = []
    for position in range(1, num_words):
        best, pointer = (score[:, :, None] + transitions).max(dim=1)
        active = attention_mask[:, position, None].bool()
        score = torch.where(active, best + scores[:, position], score)
        backpointers.append(pointer)
    # Backtrack on Python lists: indexing a tensor once per word cost more than the forward pass above.
    pointers = torch.stack(backpointers, dim=1).tolist() if backpointers else [[] for _ in range(batch_size)]
    # Padding leaves `score` as it was: it holds each sentence's scores at its last real word.
    last = (score if end is None else score + end).argmax(dim=-1).tolist()
    paths = []
    for row in range(batch_size):
        length = int(lengths[row])
        path = [last[row]] if length else []
        for position in range(length - 2, -1, -1):
            path.append(pointers[row][position][path[-1]])
        paths.append(path[::-1])
    return paths


def cut_to_lengths(label_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[list[int]]:
    """Rows of `label_ids` `(batch, words)` as lists, each cut to its sentence's length."""
    lengths = attention_mask.sum(dim=-1).tolist()
    return [row[: int(n)] for row, n in zip(label_ids.tolist(), lengths)]


def decode(
    logits: torch.Tensor, attention_mask: torch.Tensor | None, id2label: Mapping[int, str], constrained: bool = True
) -> list[list[int]]:
    """Label ids per sentence from `logits` `(batch, words, labels)`, each list cut to its sentence's length.

    With `constrained`, the best path under the BIO constraint over log-softmax scores (each word's
    argmax where that path is valid, else Viterbi's); otherwise the argmax of each word.
    """
    if attention_mask is None:
        attention_mask = torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device)
    best = logits.argmax(dim=-1)
    paths = cut_to_lengths(best, attention_mask)
    if not constrained:
        return paths
    transitions, start = bio_transition_scores(id2label)
    transitions, start = transitions.to(logits.device), start.to(logits.device)
    # Where each word's best label already forms a valid sequence, it is the best valid one:
    # Viterbi runs only on the other sentences (few, once the model is trained).
    mask = attention_mask.bool()
    invalid = (start[best[:, 0]] < 0) & mask[:, 0]
    invalid |= ((transitions[best[:, :-1], best[:, 1:]] < 0) & mask[:, 1:]).any(dim=1)
    if invalid.any():
        rows = invalid.nonzero(as_tuple=True)[0]
        log_probs = logits[rows].float().log_softmax(dim=-1)
        for row, path in zip(rows.tolist(), viterbi_decode(log_probs, attention_mask[rows], transitions, start)):
            paths[row] = path
    return paths


def chunks(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Runs of words `(type, first, last)` (last inclusive), read as seqeval reads BIO tags.

    `B-X` starts an `X` chunk; `I-X` continues an `X` chunk and starts one after anything else.
    Consecutive `O` words form one chunk of type "O" (the pipeline's `ignore_labels` drops them).
    """
    runs: list[tuple[str, int, int]] = []
    for position, label in enumerate(labels):
        prefix, name = split_label(label)
        if runs and runs[-1][0] == name and runs[-1][2] == position - 1 and prefix != "B":
            runs[-1] = (name, runs[-1][1], position)
        else:
            runs.append((name, position, position))
    return runs


def entity_chunks(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities `(type, first word, last word)` of BIO tags (`chunks` without the "O" runs)."""
    return [chunk for chunk in chunks(labels) if chunk[0] != OUTSIDE]


__all__ = [
    "OUTSIDE",
    "split_label",
    "is_bio_label",
    "entity_types",
    "bio_labels",
    "bio_transition_scores",
    "viterbi_decode",
    "cut_to_lengths",
    "decode",
    "chunks",
    "entity_chunks",
]
