"""Hand-written reference readings of BIO tags, for tests that check the package's chunking by brute force.

Written from the definition (seqeval's default, lenient mode, which reads IOB1 and IOB2 alike), not
from the package's code or seqeval's: an entity starts at `B-X`, or at `I-X` unless the word before
belongs to an `X` entity; it goes on through the `I-X` words right after it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

SMALL_LABELS = ("O", "B-A", "I-A", "B-B", "I-B")


def entity_type(tag: str) -> str | None:
    return None if tag == "O" else tag[2:]


def starts_entity(tags: list[str], index: int) -> bool:
    kind = entity_type(tags[index])
    if kind is None:
        return False
    return tags[index].startswith("B-") or index == 0 or entity_type(tags[index - 1]) != kind


def reference_entities(tags: list[str]) -> list[tuple[str, int, int]]:
    """`(type, first word, last word)` of every entity, last inclusive, in order."""
    entities = []
    for first in range(len(tags)):
        if starts_entity(tags, first):
            last = first
            while last + 1 < len(tags) and tags[last + 1] == "I-" + entity_type(tags[first]):
                last += 1
            entities.append((entity_type(tags[first]), first, last))
    return entities


def reference_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """The entities and, between them, each maximal run of `O` words as an "O" chunk: a tiling of the words."""
    inside = {index for _, first, last in reference_entities(tags) for index in range(first, last + 1)}
    outside_runs = []
    for index in range(len(tags)):
        if index not in inside:
            if outside_runs and outside_runs[-1][2] == index - 1:
                outside_runs[-1] = ("O", outside_runs[-1][1], index)
            else:
                outside_runs.append(("O", index, index))
    return sorted(reference_entities(tags) + outside_runs, key=lambda chunk: chunk[1])


def every_tag_sequence(max_length: int = 5, labels: tuple[str, ...] = SMALL_LABELS) -> Iterator[list[str]]:
    """Every sequence of `labels` of length 1 to `max_length` (3,905 for the five small labels)."""
    for length in range(1, max_length + 1):
        for sequence in itertools.product(labels, repeat=length):
            yield list(sequence)
