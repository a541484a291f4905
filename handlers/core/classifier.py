"""Decide what a reply asks for, from its text and the keyword table alone (no state, no I/O)."""

from __future__ import annotations

import re
from functools import cached_property

from .decision import HELP, NONE, OPT_IN, OPT_OUT, Decision
from .judgement import LANGUAGE_SURE, judge
from .keywords import Entry, KeywordTable
from .model import Model, Prediction
from .sentences import SentenceAlone, reading, request
from .text import words

# Rules in the order they are tried; a decision names the one that fired. Each with what it means,
# as `flask classify` explains it ({matched} and {language} are the decision's).
RULES = {
    "reaction": "a phone's reaction quoting our message: never an opt-out",
    "keyword": "the whole message is the keyword {matched!r} ({language})",
    "keyword_with_categories": "the keyword {matched!r} ({language}) followed only by category names",
    "keyword_typo": "a misspelling of the keyword {matched!r} ({language}), and no word of its own: "
                    "opted out, flagged",
    "leading_keyword": "starts with the stop word {matched!r} ({language}) and goes on",
    "phrase": "contains the phrase {matched!r} ({language})",
    "request": "asks in other words: the request verb and object {matched!r} ({language})",
    "stop_word_in_message": "the stop word {matched!r} ({language}) inside a longer message: opted out, flagged",
    "weak_word_in_message": "the weak word {matched!r} ({language}) inside a sentence: no action, flagged",
    "stop_word_in_idiom": "the stop word {matched!r} ({language}) is part of an idiom here (its neighbours say "
                          "it is not aimed at us): no action",
    "no_match": "no keyword, phrase or reaction: no action, no reply",
    "model": "the trained model reads it as {matched} ({confidence} sure)",
    "model_unsure": "the trained model leans to {matched} but is only {confidence} sure: flagged",
    "model_overruled": "a rule read an opt-out, but the trained model reads it as {matched} ({confidence} sure): "
                       "flagged",
}
# Rules whose decision is final: what the keyword table says exactly, or a keyword misspelt and nothing
# else (the carriers' and the FCC's words act as they always did, and never reach the model).
FINAL_RULES = frozenset({"reaction", "keyword", "keyword_with_categories", "keyword_typo"})
_QUOTE = re.compile(r"[\"“”„‟«»「」]|(?<!\w)['‘’‚‹›]|['‘’‚‹›](?!\w)")
_ACTIONS = {"stop": OPT_OUT, "stop_weak": OPT_OUT, "start": OPT_IN, "start_if_stopped": OPT_IN, "help": HELP}


def explain(decision: Decision) -> str:
    """Why the decision was made, in words (rules from outside the classifier: their name)."""
    confidence = f"{decision.confidence:.0%}" if decision.confidence is not None else ""
    return RULES.get(decision.rule, decision.rule).format(matched=decision.matched, language=decision.language,
                                                          confidence=confidence)


MEMO_SIZE = 4096  # texts whose decisions a table remembers: people send the same few words again and again


def classify(text: str, table: KeywordTable, country: str | None = None) -> Decision:
    """What `text` asks for: keywords.yaml's rules first (RULES, in order), then, for what they do not settle,
    the table's trained model (handlers/core/judgement.py). `country`, the sender's, says which language a
    misspelt keyword is judged in. Pure: the table remembers its answers."""
    memo = table.memo
    key = (text, country)
    decision = memo.get(key)
    if decision is None:
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        guess = _Guess(text or "", table.model)
        decision = _classify(text, table, country, guess)
        if decision.rule not in FINAL_RULES and guess.prediction is not None:
            decision = judge(decision, guess.prediction, table)
        memo[key] = decision
    return decision


class _Guess:
    """The model's reading of one text, made at most once, and only when a rule asks for it."""

    def __init__(self, text: str, model: Model | None):
        self.text, self.model = text, model

    @cached_property
    def prediction(self) -> Prediction | None:
        return self.model.predict(self.text) if self.model is not None else None


def _classify(text: str, table: KeywordTable, country: str | None = None, guess: _Guess | None = None) -> Decision:
    tokens = words(text or "")
    normalised = " ".join(tokens)
    if not tokens:
        return Decision(NONE, "no_match", normalised=normalised)
    if _is_reaction(text, tokens, table):
        return Decision(NONE, "reaction", normalised=normalised)

    whole = table.entries.get(tokens)
    if whole is not None and whole.kind in _ACTIONS:
        return _decide(whole, "keyword", (), table, normalised)

    for n in _prefix_lengths(tokens, table):
        entry = table.entries.get(tokens[:n])
        if entry is None or entry.kind not in ("stop", "stop_weak", "start", "start_if_stopped"):
            continue
        named = _categories(tokens[n:], table)
        if named:
            categories, languages = named
            return _decide(entry, "keyword_with_categories", categories, table, normalised,
                           category_languages=languages)

    typo = _typo(tokens, table, _typo_languages(table, country, guess))
    if typo is not None:
        entry, categories, languages = typo
        return _decide(entry, "keyword_typo", categories, table, normalised, flagged=True,
                       category_languages=languages)

    # From here on a stop word inside a not_stop_phrase ("bus stop") does not count.
    padded = f" {normalised} "
    for phrase in table.not_stop_phrases:
        while phrase in padded:
            padded = padded.replace(phrase, " ~ ")
    tokens = tuple(padded.split())
    alone = SentenceAlone(text)

    idiom = None
    for n in _prefix_lengths(tokens, table):
        entry = table.entries.get(tokens[:n])
        if entry is not None and entry.kind == "stop":
            if reading(tokens, 0, n, table, alone) != "idiom":
                return _decide(entry, "leading_keyword", (), table, normalised)
            idiom = entry
            break

    for phrase, language, written in table.phrases:
        if phrase in padded:
            return Decision(OPT_OUT, "phrase", (), language, (language,), written, normalised=normalised)

    asked = request(tokens, table)
    if asked is not None:
        language, written = asked
        return Decision(OPT_OUT, "request", (), language, (language,), written, normalised=normalised)

    weak = None
    for start in range(len(tokens)):
        for n in range(min(table.longest_keyword, len(tokens) - start), 0, -1):
            entry = table.entries.get(tokens[start:start + n])
            if entry is None:
                continue
            if entry.kind == "stop":
                if reading(tokens, start, n, table, alone) != "idiom":
                    return _decide(entry, "stop_word_in_message", (), table, normalised, flagged=True)
                idiom = idiom or entry
                break
            if entry.kind == "stop_weak" and weak is None:
                weak = entry
    if weak is not None:
        return Decision(NONE, "weak_word_in_message", (), weak.languages[0], weak.languages, weak.written,
                        flagged=True, normalised=normalised)
    if idiom is not None:
        return Decision(NONE, "stop_word_in_idiom", (), idiom.languages[0], idiom.languages, idiom.written,
                        normalised=normalised)
    return Decision(NONE, "no_match", normalised=normalised)


def _typo_languages(table: KeywordTable, country: str | None, guess: _Guess | None) -> tuple[str, ...] | None:
    """The languages a misspelt keyword is judged in: the sender's country's, else the one the model
    recognises with confidence, else None (every shipped language)."""
    spoken = table.language_of_country(country)
    if spoken is not None:
        return (spoken,)
    prediction = guess.prediction if guess is not None else None
    if prediction is not None and prediction.language_probability >= LANGUAGE_SURE:
        return (prediction.language,)
    return None


def _typo(tokens: tuple[str, ...], table: KeywordTable, languages: tuple[str, ...] | None = None):
    """(entry, categories, their languages) when the message is an opt-out keyword misspelt, spelt out
    ("s-t-o-p", "Sto p") or misspelt before category names ("unsubscirbe surveys"); else None. A typo is
    a word of `languages` (None: any shipped language) only if written as it is meant."""
    if table.typos is None:
        return None
    if len(tokens) > 1 and max(map(len, tokens)) <= 3 and min(map(len, tokens)) == 1:  # spaced or dotted out
        joined = "".join(tokens)
        entry = table.entries.get((joined,))
        if entry is None or entry.kind not in ("stop", "stop_weak"):
            entry = _opt_out_typo(joined, table, shape_only=True, languages=languages)
        return (entry, (), ()) if entry is not None else None
    named = _categories(tokens[1:], table) if len(tokens) > 1 else ((), ())
    if named is None:
        return None
    entry = _opt_out_typo(tokens[0], table, languages=languages)
    return (entry, *named) if entry is not None else None


def _opt_out_typo(word: str, table: KeywordTable, shape_only: bool = False,
                  languages: tuple[str, ...] | None = None) -> Entry | None:
    """The opt-out keyword `word` misspells, if it is nearest to opt-out keywords only."""
    nearest = table.typos.nearest(word, shape_only, languages)
    entries = [table.entries[(k,)] for k in nearest]
    if entries and all(e.kind in ("stop", "stop_weak") for e in entries):
        return entries[0]
    return None


def _decide(entry: Entry, rule: str, categories: tuple[str, ...], table: KeywordTable, normalised: str,
            flagged: bool = False, category_languages: tuple[str, ...] = ()) -> Decision:
    # A keyword in several languages (STOP) takes the languages its category words share, if any.
    languages = tuple(c for c in entry.languages if c in category_languages) or entry.languages
    return Decision(
        action=_ACTIONS[entry.kind],
        rule=rule,
        categories=categories,
        language=languages[0],
        languages=languages,
        matched=entry.written,
        flagged=flagged,
        only_if_opted_out=entry.kind == "start_if_stopped",
        normalised=normalised,
    )


def _categories(rest: tuple[str, ...], table: KeywordTable) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(categories, languages of their words) if `rest` is only category names and joiners."""
    found: list[str] = []
    languages: list[str] | None = None
    i = 0
    while i < len(rest):
        if rest[i] in table.joiners:
            i += 1
            continue
        for n in range(min(table.longest_keyword, len(rest) - i), 0, -1):
            entry = table.entries.get(rest[i:i + n])
            if entry is not None and entry.kind == "category":
                if entry.category not in found:
                    found.append(entry.category)
                shared = [c for c in languages or () if c in entry.languages]
                languages = shared or (languages if languages else list(entry.languages))
                i += n
                break
        else:
            return None
    return (tuple(found), tuple(languages or ())) if found else None


def _prefix_lengths(tokens: tuple[str, ...], table: KeywordTable) -> range:
    """Longest first, and always leaving at least one word after the prefix."""
    return range(min(table.longest_keyword, len(tokens) - 1), 0, -1)


def _is_reaction(text: str, tokens: tuple[str, ...], table: KeywordTable) -> bool:
    """A phone's rendering of a tapback or emoji reaction: exactly a reaction's words, then a quote
    (Liked “…”, Reacted 👍 to "…"). An apostrophe inside a word (l'insistenza) is not a quote."""
    # The reaction's own words may be quoted too (Ha messo "Mi piace" a “…”): try each quote.
    for i, quote in enumerate(_QUOTE.finditer(text)):
        if i == 4:
            return False
        if words(text[:quote.start()]) in table.reactions:
            return True
    return False
