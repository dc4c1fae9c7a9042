"""Tag schemes of word-level files: IOB2, IOB1, BIOES and BILOU, detected per file and read as IOB2.

The model learns and predicts IOB2 (every entity starts with `B-`). A file in another scheme is
converted on reading without changing its entities:

- IOB1 (CoNLL-2003 as distributed): an entity starts with `I-` unless it follows one of the same
  type, where `B-` separates the two. `I-X` at a start, after `O` or after another type becomes `B-X`.
- BIOES / BILOU: `S-X` / `U-X` (single word) becomes `B-X`, `E-X` / `L-X` (last word) becomes `I-X`.

A file whose tags fit no single scheme (IOB1 starts beside IOB2 starts, BIOES beside BILOU tags) is
an error naming the file and the line where the second scheme shows.
"""

from collections.abc import Sequence

from ..decoding_xlner import OUTSIDE, split_label

SCHEMES = ("IOB2", "IOB1", "BIOES", "BILOU")


class TagSchemeError(ValueError):
    """The tags of a file mix schemes; `line` is the first line whose tag does not fit the file's other tags."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def is_scheme_tag(tag: object) -> bool:
    """Whether `tag` is `O` or `P-<type>` with P one of B, I, E, S, L, U and a non-empty type."""
    return isinstance(tag, str) and (tag == OUTSIDE or split_label(tag)[0] in {"B", "I", "E", "S", "L", "U"})


def _starts(sentences: Sequence[Sequence[str]], lines: Sequence[Sequence[int]]):
    """(line, how an entity begins) for every IOB-style entity start: "I" (IOB1 style) or "B" after O / another type."""
    for tags, numbers in zip(sentences, lines):
        previous = OUTSIDE
        for tag, number in zip(tags, numbers):
            prefix, name = split_label(tag)
            follows_same_type = previous != OUTSIDE and split_label(previous)[1] == name
            if prefix == "I" and not follows_same_type:
                yield number, "I"
            elif prefix == "B" and not follows_same_type:
                yield number, "B"
            previous = tag


def detect_scheme(sentences: Sequence[Sequence[str]], lines: Sequence[Sequence[int]]) -> str:
    """The scheme of a file's tags (`lines`: the line number of each tag); raises `TagSchemeError` for a mix."""
    first_line: dict[str, int] = {}
    for tags, numbers in zip(sentences, lines):
        for tag, number in zip(tags, numbers):
            first_line.setdefault(split_label(tag)[0] or OUTSIDE, number)
    bioes, bilou = {"E", "S"} & set(first_line), {"L", "U"} & set(first_line)
    if bioes and bilou:
        line = max(min(first_line[p] for p in bioes), min(first_line[p] for p in bilou))
        raise TagSchemeError("mixes BIOES tags (E-, S-) with BILOU tags (L-, U-)", line)
    if bioes or bilou:
        scheme = "BIOES" if bioes else "BILOU"
        _check_segments(sentences, lines, scheme)
        return scheme
    starts: dict[str, int] = {}
    for number, kind in _starts(sentences, lines):
        starts.setdefault(kind, number)
    if "I" in starts and "B" in starts:
        raise TagSchemeError(
            "mixes IOB1 entity starts (I- after O or another type) with IOB2 ones (B- after O or another type)",
            max(starts.values()),
        )
    return "IOB1" if "I" in starts else "IOB2"


def _check_segments(sentences: Sequence[Sequence[str]], lines: Sequence[Sequence[int]], scheme: str) -> None:
    """BIOES / BILOU spell every entity out: B- opens one that I- continues and E- / L- closes; S- / U- is one word."""
    last = "E" if scheme == "BIOES" else "L"
    for tags, numbers in zip(sentences, lines):
        open_type = None  # the type of the entity a B- opened and no E- / L- closed yet
        for tag, number in zip(tags, numbers):
            prefix, name = split_label(tag)
            if prefix in ("I", last) and open_type != name:
                raise TagSchemeError(f"tag {tag!r} continues an entity that no B-{name} opened ({scheme})", number)
            if prefix not in ("I", last) and open_type is not None:
                raise TagSchemeError(f"tag {tag!r} comes before the B-{open_type} entity was closed ({scheme})", number)
            open_type = name if prefix in ("B", "I") else None
        if open_type is not None:
            raise TagSchemeError(f"the sentence ends inside a B-{open_type} entity that was never closed ({scheme})", numbers[-1])


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """One sentence's tags of `scheme` as IOB2 tags with the same entities."""
    if scheme == "IOB2":
        return list(tags)
    converted, previous = [], OUTSIDE
    for tag in tags:
        prefix, name = split_label(tag)
        if prefix in ("S", "U"):
            tag = f"B-{name}"
        elif prefix in ("E", "L"):
            tag = f"I-{name}"
        elif scheme == "IOB1" and prefix == "I" and (previous == OUTSIDE or split_label(previous)[1] != name):
            tag = f"B-{name}"
        converted.append(tag)
        previous = tag
    return converted


__all__ = ["SCHEMES", "TagSchemeError", "detect_scheme", "is_scheme_tag", "to_iob2"]
