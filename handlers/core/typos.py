"""Which keyword a misspelt word was meant to be, if it is clearly one keyword and no real word."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

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
        for code in self.languages:  # read each language's word list now (once a process), not on the first typo
            _accented_words(code)

    def nearest(self, word: str, shape_only: bool = False) -> tuple[str, ...]:
        """The keywords `word` is a typo of (several only when equally close); () if none or if `word` is
        itself a keyword or a word of a shipped language. `shape_only`: repeated letters only, no edits."""
        if word in self.known or len(word) < 3:
            return ()
        found = self.by_shape.get(collapse(word), ())
        if not found and not shape_only:
            close = process.extract(word, self.keywords, scorer=OSA.distance, score_cutoff=self.widest, limit=None)
            fitting = [(d, k) for k, d, _ in close if 0 < d <= allowed_edits(k)]
            best = min((d for d, _ in fitting), default=None)
            found = tuple(k for d, k in fitting if d == best)
        if found and is_a_word(word, self.languages):
            return ()
        return found


@lru_cache(maxsize=4096)
def is_a_word(word: str, languages: tuple[str, ...]) -> bool:
    """`word` (as text.words writes it: no accents) is common enough in one of `languages` to have been
    meant as written ("kundigt" is "kündigt")."""
    return any(wordfreq.zipf_frequency(word, code) >= WORD_ZIPF or word in _accented_words(code)
               for code in languages)


@cache
def _accented_words(code: str) -> frozenset[str]:
    """The common words of a language that have accents, as text.words writes them (once a process)."""
    least = 10 ** (WORD_ZIPF - 9)  # Zipf is log10 of frequency per billion words
    folded = (words(w) for w, f in wordfreq.get_frequency_dict(code).items() if f >= least and not w.isascii())
    return frozenset(w[0] for w in folded if len(w) == 1)
