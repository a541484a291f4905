"""Which keyword a misspelt word was meant to be, if it is clearly one keyword and no real word."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import wordfreq
from rapidfuzz import process
from rapidfuzz.distance import OSA

from .text import words

# A word at least this common (Zipf scale: 2.5 is about 3 in 10 million words) in a shipped language
# is a word, not a typo: "shop", "step", "spot", "stoep", "stoop" and "stopt" are all above it, while
# the typos people send ("stpp", "cancell", "unsubscirbe", "optuot") are below it or absent.
WORD_ZIPF = 2.5
_REPEATS = re.compile(r"(.)\1+")


def allowed_edits(keyword: str) -> int:
    """How many edits (insert, delete, substitute, swap of neighbours) a keyword of this length tolerates."""
    return 0 if len(keyword) < 4 else 1 if len(keyword) <= 6 else 2


def collapse(word: str) -> str:
    """The word with each run of a repeated letter written once ("stoooop" -> "stop")."""
    return _REPEATS.sub(r"\1", word)


class TypoIndex:
    """The single-word forms of keywords, precomputed for fuzzy look-up when the table loads."""

    def __init__(self, keywords: Iterable[str], languages: Iterable[str]):
        self.keywords = tuple(sorted(set(keywords)))
        self.known = frozenset(self.keywords)
        self.languages = tuple(c for c in languages if c in wordfreq.available_languages())
        by_shape: dict[str, set[str]] = {}
        for keyword in self.keywords:
            by_shape.setdefault(collapse(keyword), set()).add(keyword)
        self.by_shape = {shape: tuple(sorted(found)) for shape, found in by_shape.items()}
        self.widest = max((allowed_edits(k) for k in self.keywords), default=0)
        # For each length of word, the keywords it can be within their allowed edits of.
        longest = max(map(len, self.keywords), default=0) + self.widest
        self.by_length = {n: tuple(k for k in self.keywords if abs(len(k) - n) <= allowed_edits(k))
                          for n in range(1, longest + 1)}
        # Word -> the bits of the languages it is a word of: read now (once a process), not on the first typo.
        self.words = _common_words(self.languages)

    def nearest(self, word: str, shape_only: bool = False, languages: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The keywords `word` is a typo of (several only when equally close); () if none or if `word` is
        itself a keyword or a word of `languages` (None: of any shipped language; "stpo" is a German
        abbreviation, not an English word). `shape_only`: repeated letters only, no edits."""
        if word in self.known or len(word) < 3:
            return ()
        found = self.by_shape.get(collapse(word), ())
        if not found and not shape_only:
            choices = self.by_length.get(len(word), ())
            close = process.extract(word, choices, scorer=OSA.distance, score_cutoff=self.widest, limit=None)
            fitting = [(d, k) for k, d, _ in close if 0 < d <= allowed_edits(k)]
            best = min((d for d, _ in fitting), default=None)
            found = tuple(k for d, k in fitting if d == best)
        # A word of the language ("stoop"; "kundigt" is "kündigt") was meant as written.
        if found and self.words.get(word, 0) & self._bits(languages):
            return ()
        return found

    def _bits(self, languages: tuple[str, ...] | None) -> int:
        if languages is None:
            return -1  # every language
        known = [c for c in languages if c in self.languages]
        return sum(1 << self.languages.index(c) for c in known) if known else -1


@cache
def _common_words(languages: tuple[str, ...]) -> dict[str, int]:
    """Every word of `languages` at least WORD_ZIPF common, as text.words writes them, with one bit per
    language it is a word of (bit i: languages[i]); read once a process from wordfreq's lists without
    keeping them (this takes a quarter of wordfreq's own cache)."""
    found: dict[str, int] = {}
    paths = wordfreq.available_languages()
    for bit, code in enumerate(languages):
        # wordfreq's lists hold words by frequency in centibels: bucket i has frequency 10^(-i/100), Zipf 9 - i/100.
        for bucket in wordfreq.read_cBpack(paths[code])[:round((9 - WORD_ZIPF) * 100) + 1]:
            for written in bucket:
                folded = (written,) if written.isascii() else words(written)
                if len(folded) == 1 and len(folded[0]) >= 3:  # shorter words are never typos of keywords here
                    found[folded[0]] = found.get(folded[0], 0) | (1 << bit)
    return found
