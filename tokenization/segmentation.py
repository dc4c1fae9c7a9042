"""Text front end: Unicode normalisation with offsets, English and Japanese word segmentation, romanisation.

Everything here keeps track of where each word came from in the ORIGINAL string, so that
normalisation (full-width → half-width, ｶﾞ → ガ, ㍿ → 株式会社) never breaks the offsets.
"""

import re
import threading
import unicodedata
from typing import NamedTuple

# Characters MeCab cannot take (NUL ends its C string) or that carry no text: read as spaces.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Half-width voicing marks combine with the preceding kana only when normalised together.
_HALF_WIDTH_VOICING = "\uff9e\uff9f"
# Non-spacing and enclosing marks that are not "combining" (class 0), e.g. variation selectors
# (葛󠄀, ❤️), still belong to the preceding character rather than being words of their own.
_ATTACHED_MARK_CATEGORIES = frozenset({"Mn", "Me"})
# Variation selectors choose a glyph, not a reading; pykakasi fails on U+E0100..U+E01EF.
_VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# English words, close to CoNLL's tokenisation: numbers like "3.5", abbreviations like "U.S.",
# hyphenated words, clitics ("'s") on their own, and any other symbol alone.
_ENGLISH_WORD = re.compile(r"\d+(?:[.,]\d+)+|(?:[^\W\d_]\.){2,}|\w+(?:-\w+)*|['’]\w+|[^\w\s]")


class Word(NamedTuple):
    """A word: its normalised surface, [start, end) in the original text, its kana reading and part of speech."""

    surface: str
    start: int
    end: int
    reading: str | None = None
    pos: str | None = None  # UniDic's, e.g. "名詞-固有名詞-人名-姓" (Japanese only)
    lemma: str | None = None  # UniDic's, e.g. 有る for あっ (Japanese only)


def _attaches(character: str) -> bool:
    """Whether `character` is normalised together with the one before it (see `normalize_with_offsets`)."""
    return bool(
        unicodedata.combining(character)
        or character in _HALF_WIDTH_VOICING
        or unicodedata.category(character) in _ATTACHED_MARK_CATEGORIES
    )


# Characters that `normalize_with_offsets` maps to themselves, one for one, wherever they stand: visible,
# not attached to the character before, and their own NFKC form. Learnt as texts come, so that the
# common case (text already normalised, as most Japanese text is) skips the per-character loop.
# Shared by threads without a lock: each set operation is atomic and membership is a pure function of
# the character, so a race can only repeat work.
_PLAIN_CHARACTERS: set[str] = set()
_OTHER_CHARACTERS: set[str] = set()


def _is_plain(text: str) -> bool:
    """Whether every character of `text` is plain, so that normalisation leaves `text` as it is."""
    characters = set(text)
    if characters <= _PLAIN_CHARACTERS:
        return True
    if len(_PLAIN_CHARACTERS) + len(_OTHER_CHARACTERS) > 50_000:  # bounded, even for adversarial input
        _PLAIN_CHARACTERS.clear()
        _OTHER_CHARACTERS.clear()
    for character in characters - _PLAIN_CHARACTERS:
        if character in _OTHER_CHARACTERS:
            return False
        if (
            _attaches(character)
            or unicodedata.category(character) in _INVISIBLE_CATEGORIES
            or unicodedata.normalize("NFKC", character) != character
        ):
            _OTHER_CHARACTERS.add(character)
            return False
        _PLAIN_CHARACTERS.add(character)
    return True


def normalize_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """NFKC-normalise `text`, returning for every normalised character its [start, end) in `text`.

    Control and format characters become spaces. A base character and the combining marks
    after it are normalised together (so they can compose) and share one original span.
    """
    if text.isascii() and text.isprintable() or _is_plain(text):
        return text, list(range(len(text))), list(range(1, len(text) + 1))
    characters: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and _attaches(text[j]):
            j += 1
        chunk = "".join(" " if unicodedata.category(c) in _INVISIBLE_CATEGORIES else c for c in text[i:j])
        for character in unicodedata.normalize("NFKC", chunk):
            characters.append(character)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(characters), starts, ends


def _words_from_normalized(
    pieces: list[tuple[str, int, int, str | None, str | None, str | None]], starts: list[int], ends: list[int]
) -> list[Word]:
    """Map words found in the normalised text back to the original; merge words that share a character.

    One original character can expand to several (㍿ → 株式会社) and be split by the segmenter;
    such pieces become one word so that words never overlap and never have empty spans.
    """
    words: list[Word] = []
    for surface, begin, finish, reading, pos, lemma in pieces:
        if not surface.strip():
            continue
        start, end = starts[begin], ends[finish - 1]
        if words and start < words[-1].end:
            last = words[-1]
            words[-1] = Word(last.surface + surface, last.start, max(end, last.end), None, last.pos)
        else:
            words.append(Word(surface, start, end, reading, pos, lemma))
    return words


def split_english(text: str) -> list[Word]:
    """Split raw English (or any space-delimited) text into words and punctuation."""
    normalized, starts, ends = normalize_with_offsets(text)
    pieces = [(m.group(), m.start(), m.end(), None, None, None) for m in _ENGLISH_WORD.finditer(normalized)]
    return _words_from_normalized(pieces, starts, ends)


def _unidic_pos_and_lemma(feature_raw: str) -> tuple[str, str | None]:
    """UniDic's part of speech and lemma from MeCab's raw feature string (the lemma None when there is none).

    "名詞,普通名詞,一般,*,*,*,ページ,ページ-page,..." → ("名詞-普通名詞-一般", "ページ"): the lemma without
    UniDic's "-<origin>" suffix (how pretrained vectors spell dictionary forms, e.g. 有る for あっ).
    """
    fields = feature_raw.split(",", 8)
    lemma = fields[7].split("-", 1)[0] if len(fields) > 7 and fields[7] not in ("", "*") else None
    return "-".join(field for field in fields[:4] if field != "*"), lemma or None


class JapaneseSegmenter:
    """Japanese word segmentation with fugashi + unidic-lite, and romanisation with pykakasi.

    The MeCab tagger and the kakasi converter are created on first use and dropped when
    pickled (neither can be pickled), so a tokenizer holding this object can be sent to
    `datasets.map` worker processes.

    Safe to share between threads: MeCab's tagger is not, so one thread at a time parses and reads
    the result (`_tagger_lock`); the caches hold pure functions of their keys.
    """

    def __init__(self, max_cache_size: int = 200_000):
        self.max_cache_size = max_cache_size
        self._tagger = None
        self._tagger_lock = threading.Lock()  # not pickled: __setstate__ makes a new one
        self._kakasi = None
        self._romaji_cache: dict[str, str] = {}
        self._feature_cache: dict[str, tuple[str, str | None]] = {}
        self._line_cache: dict[str, tuple[str, None, str, str | None]] = {}  # MeCab output line -> `_parsed` word

    def __getstate__(self) -> dict:
        return {"max_cache_size": self.max_cache_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    @property
    def tagger(self):
        if self._tagger is None:
            import fugashi  # imported lazily: English-only users need no MeCab

            self._tagger = fugashi.Tagger()
        return self._tagger

    def segment(self, text: str, readings: bool = True, pos: bool = True) -> list[Word]:
        """Words of raw Japanese text, with offsets into `text`, UniDic kana readings, parts of speech and lemmas.

        `readings=False` leaves every reading None and skips parsing UniDic's features, which
        costs more than the segmentation itself; surfaces and offsets are the same. `pos=False`
        leaves every part of speech and lemma None.
        """
        normalized, starts, ends = normalize_with_offsets(text)
        # fugashi's nodes read their features from the tagger's lattice, which the next parse (in any
        # thread) overwrites: parse and read every node under the lock, into lists.
        with self._tagger_lock:
            if readings:
                analysed = [(n.surface, getattr(n.feature, "kana", None), *self._pos_and_lemma(n)) for n in self.tagger(normalized)]
            elif pos:
                analysed = self._parsed(normalized)
            else:
                analysed = [(node.surface, None, None, None) for node in self.tagger(normalized)]
        pieces = []
        position = 0
        find = normalized.find
        for surface, kana, tag, lemma in analysed:
            position = find(surface, position)  # skips the whitespace MeCab dropped
            if position < 0:  # never expected from MeCab; refuse rather than guess offsets
                raise RuntimeError(f"MeCab returned {surface!r}, which is not in the text {normalized!r}")
            pieces.append((surface, position, position + len(surface), kana if kana and kana != "*" else None, tag, lemma))
            position += len(surface)
        return _words_from_normalized(pieces, starts, ends)

    def _parsed(self, normalized: str) -> list[tuple[str, None, str, str | None]]:
        """(surface, None, part of speech, lemma) of each word from MeCab's text output, one string per text:
        several times cheaper than reading each node's features from Python.

        unidic-lite's output lines are "surface, pronunciation, kana, lemma, pos-joined-by-hyphens, ..." (its
        dicrc); a line of another shape (another dictionary) is read through the nodes instead.
        """
        words = []
        cached = self._line_cache.get
        for line in self.tagger.parse(normalized).split("\n"):
            word = cached(line)  # a line is a pure function of (surface, features): common words are read once
            if word is None:
                if line in ("EOS", ""):
                    continue
                fields = line.split("\t", 5)
                if len(fields) < 5:
                    return [(n.surface, None, *self._pos_and_lemma(n)) for n in self.tagger(normalized)]
                lemma = fields[3].split("-", 1)[0] if fields[3] not in ("", "*") else None
                word = (fields[0], None, fields[4], lemma if lemma and lemma != fields[0] else None)
                if len(self._line_cache) >= self.max_cache_size:
                    self._line_cache.clear()
                self._line_cache[line] = word
            words.append(word)
        return words

    def _pos_and_lemma(self, node) -> tuple[str, str | None]:
        """`_unidic_pos_and_lemma` of a node's features (cached per feature string); no lemma when it is the surface."""
        features = node.feature_raw
        found = self._feature_cache.get(features)
        if found is None:
            if len(self._feature_cache) >= self.max_cache_size:
                self._feature_cache.clear()
            found = self._feature_cache[features] = _unidic_pos_and_lemma(features)
        return found if found[1] != node.surface else (found[0], None)
    def romanize(self, text: str) -> str:
        """Lowercase Hepburn romaji of `text` (kana, kanji or Latin), cached per distinct string."""
        romaji = self._romaji_cache.get(text)
        if romaji is None:
            if self._kakasi is None:
                import pykakasi

                self._kakasi = pykakasi.kakasi()
            readable = _VARIATION_SELECTORS.sub("", text)
            romaji = "".join(item["hepburn"] for item in self._kakasi.convert(readable)).lower() or readable.lower()
            if len(self._romaji_cache) >= self.max_cache_size:
                self._romaji_cache.clear()  # keeps memory flat when streaming huge inputs
            self._romaji_cache[text] = romaji
        return romaji


# ---------------------------------------------------------------------------------- long texts

# Where a sentence ends: Japanese sentence-final punctuation (then any closing brackets or quotes and
# spaces), Latin ". ! ?" followed by whitespace, or a line break. A cut goes at the end of a match.
_SENTENCE_END = re.compile(
    r"[。．！？!?｡]+[」』）)\]】〕〉》\"'’”]*\s*"
    r"|\.+[)\]\"'’”]*\s+"
    r"|[\n\r\u2028\u2029\x85]+\s*"
)
_SPACE = re.compile(r"\s+")


def split_long_text(text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut `text` into consecutive `[start, end)` pieces of at most `max_chars` characters.

    A text no longer than `max_chars` is one piece. Otherwise each piece ends at the last sentence
    boundary that fits (see `_SENTENCE_END`); failing that, after the last run of whitespace; failing
    that (one "sentence" longer than `max_chars` without a space), exactly at `max_chars`, moved back
    so that no combining mark is separated from its base character. The pieces cover the text
    exactly, in order, so offsets inside a piece map back by adding its start.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    length = len(text)
    if length <= max_chars:
        return [(0, length)]
    pieces = []
    start = 0
    while length - start > max_chars:
        limit = start + max_chars
        window = text[start:limit]
        cut = 0
        for match in _SENTENCE_END.finditer(window):
            cut = match.end()
        # A sentence end whose trailing spaces ran up to the limit may go on after it: still a boundary.
        if cut == 0:
            for match in _SPACE.finditer(window):
                if match.start() > 0:
                    cut = match.end()
        if cut == 0:
            cut = max_chars
            while cut > 1 and _attaches(text[start + cut]):
                cut -= 1
        pieces.append((start, start + cut))
        start += cut
    pieces.append((start, length))
    return pieces
