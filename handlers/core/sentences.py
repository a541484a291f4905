"""Reading a message's words with their neighbours: requests built from a verb and its object, and
whether a stop word inside a sentence is aimed at us or part of an idiom. Pure, like the classifier."""

from __future__ import annotations

import re

from .keywords import KeywordTable
from .text import words

_SENTENCE_END = re.compile(r"[.!?;\n]+")
_REQUEST_REACH = 4  # a request's object starts within this many words of its verb ("don't want any more of these")


def request(tokens: tuple[str, ...], table: KeywordTable) -> tuple[str, str] | None:
    """(language, "verb + object") for the first request verb followed closely by its language's object."""
    for start, word in enumerate(tokens):
        for verb in table.request_verbs.get(word, ()):
            end = start + len(verb.head)
            if tokens[start:end] != verb.head or _negated(tokens, start, table):
                continue
            reach = tokens[end:end + _REQUEST_REACH + len(verb.tail) + 2]
            objects = table.request_objects.get(f"{verb.language}:unwanted" if verb.wants else verb.language, {})
            for i in range(min(_REQUEST_REACH, len(reach))):
                # A one-word object ("me") only right after the verb; a longer one a few words on.
                found = next((o for o in objects.get(reach[i], ()) if reach[i:i + len(o)] == o
                              and (i == 0 or len(o) > 1)), None)
                if found is None:
                    continue
                after = i + len(found)
                # The verb's tail ("off") right after the object, or right before it ("take off my number").
                if not verb.tail or reach[after:after + len(verb.tail)] == verb.tail \
                        or reach[max(0, i - len(verb.tail)):i] == verb.tail:
                    return verb.language, f"{verb.written} + {' '.join(found)}"
    return None


def _negated(tokens: tuple[str, ...], start: int, table: KeywordTable) -> bool:
    if not start:
        return False
    return any(tokens[max(0, start - len(n)):start] == n for n in table.request_negations.get(tokens[start - 1], ()))


def _negated_near(tokens: tuple[str, ...], start: int, table: KeywordTable) -> bool:
    """A language's `negations` right before the word, or one word before it: "don't unsubscribe me",
    "don't you unsubscribe me", "bitte nicht abmelden" ask for nothing (the trained model still reads them)."""
    return any(_negated(tokens, at, table) for at in (start, start - 1) if at > 0)


class SentenceAlone:
    """Whether a stop word stands as a sentence of its own ("STOP. wrong number"); split only if asked."""

    def __init__(self, text: str):
        self.text, self.sentences = text, None

    def __contains__(self, key: tuple[str, ...]) -> bool:
        if self.sentences is None:
            self.sentences = {words(s) for s in _SENTENCE_END.split(self.text)}
        return key in self.sentences


def reading(tokens: tuple[str, ...], start: int, n: int, table: KeywordTable, alone: SentenceAlone) -> str:
    """How the stop word at tokens[start:start+n] reads: "aimed" at us, part of an "idiom", or "plain"."""
    neighbours = table.in_sentence.get(tokens[start:start + n])
    if neighbours is None:
        return "idiom" if _negated_near(tokens, start, table) else "plain"
    if tokens[start:start + n] in alone:
        return "aimed"
    if _negated_near(tokens, start, table):
        return "idiom"
    # One of `between` may come between ("will completely stop", "can't ever stop").
    gaps = (0, 1) if start and tokens[start - 1] in neighbours.between else (0,)
    if any(tokens[max(0, start - len(p) - gap):start - gap] == p
           for gap in gaps if start > gap for p in neighbours.not_before.get(tokens[start - 1 - gap], ())):
        return "idiom"
    after = tokens[start + n:]
    first = after[0] if after else None
    if any(after[:len(p)] == p for p in (*neighbours.aimed.get(first, ()), *table.request_targets.get(first, ()))):
        return "aimed"
    if after and (after[0] in neighbours.not_after
                  or any(after[0].endswith(e) and len(after[0]) > len(e) + 1 for e in neighbours.other_verb_endings)):
        return "idiom"
    return "plain"
