"""Readers of what keywords.yaml says beyond its keywords to read a message and place it: requests in
other words, a stop word's neighbours in a sentence, the countries that hint at a language, the provider
lists that stand for a category, and labelled examples for the trained model."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .keyword_reader import KeywordReader
from .keywords import GAP, IN_SENTENCE_LISTS, PROVIDER_LISTS, REQUEST_LISTS, RequestVerb, SentenceReading
from .model import Example
from .text import words


def read_requests(reader: KeywordReader, where, value, code: str, requests: dict) -> None:
    """Read a language's `requests:` into requests' verbs (by first word), objects and negations."""
    lists = reader.block(where, value, REQUEST_LISTS)
    if not lists:
        return
    for verbs, objects, example in (("verbs", "objects", "me"), ("wants", "unwanted", "texts")):
        if lists[verbs] and not lists[objects]:
            reader.problem(where, f"has {verbs} but no {objects}: a {verbs[:-1]} is a request only with what it "
                                  f"is about, such as \"{example}\"")
    for list_name in ("verbs", "wants"):
        for i, written in enumerate(lists[list_name]):
            parts = written.split(GAP)
            head, tail = words(parts[0]), words(GAP.join(parts[1:]))
            if len(parts) > 2 or not head or (len(parts) == 2 and not tail):
                reader.problem(where + (list_name, i), f"{written!r}: write the words before and after the "
                                                       f"object around one {GAP}, like \"take {GAP} off\"")
                continue
            verb = RequestVerb(head, tail, code, written, wants=list_name == "wants")
            requests["verbs"].setdefault(head[0], []).append(verb)
    requests["objects"].setdefault(code, []).extend(words(o) for o in lists["objects"])
    requests["objects"].setdefault(f"{code}:unwanted", []).extend(words(o) for o in lists["unwanted"])
    requests["negations"].update(words(n) for n in lists["negations"])


def read_in_sentence(reader: KeywordReader, where, value, code: str, entries: dict, in_sentence: dict) -> None:
    """Read a language's `stop_in_sentences:` into in_sentence[stop word] (one set of lists per language)."""
    lists = reader.block(where, value, IN_SENTENCE_LISTS)
    for i, word in enumerate(lists.get("words", [])):
        entry = entries.get(words(word))
        if entry is None or entry.kind != "stop" or code not in entry.languages:
            reader.problem(where + ("words", i), f"{word!r} is not one of languages.{code}.stop: only a stop "
                                                 "word is read with its neighbours")
            continue
        in_sentence.setdefault(words(word), []).append(lists)
    for i, ending in enumerate(lists.get("other_verb_endings", [])):
        if not ending.isalpha():
            reader.problem(where + ("other_verb_endings", i), f"{ending!r} must be letters only, like ing")


def read_countries(reader: KeywordReader, where, value, country_of: dict) -> tuple[str, ...]:
    """A language's `countries:`; country_of[country] notes the language each is already under."""
    if value is None:
        return ()
    if not isinstance(value, list):
        reader.problem(where, "must be a list of two-letter country codes, like [ES, MX]")
        return ()
    out = []
    for i, country in enumerate(value):
        if not (isinstance(country, str) and len(country) == 2 and country.isalpha() and country.isupper()):
            reader.problem(where + (i,), f"{country!r} is not a two-letter country code in capitals (ES, MX ...)")
        elif country in country_of:
            reader.problem(where + (i,), f"{country} is also listed under {country_of[country]}: "
                                         "a country can hint at one language only")
        else:
            country_of[country] = ".".join(str(p) for p in where[:2])
            out.append(country)
    return tuple(out)


def read_provider_lists(reader: KeywordReader, where, value, category: str, found: dict[str, dict[str, str]]) -> None:
    """Read a category's provider lists into found[provider][list] = category."""
    if value is None:
        return
    if not isinstance(value, dict):
        reader.problem(where, "must map providers to their lists, like sendgrid: [12345], mailgun: [promos]")
        return
    for provider, keys in value.items():
        if provider not in PROVIDER_LISTS:
            reader.problem(where + (provider,), f"{provider!r} is not a provider with lists "
                                                f"({', '.join(PROVIDER_LISTS)})")
            continue
        if not isinstance(keys, list) or not keys:
            reader.problem(where + (provider,), f"must be a list of {PROVIDER_LISTS[provider]}")
            continue
        for i, key in enumerate(keys):
            numeric = isinstance(key, int) and not isinstance(key, bool) and key > 0
            if (provider == "sendgrid" and not numeric) or (
                    provider != "sendgrid" and not (isinstance(key, str) and key.strip())):
                reader.problem(where + (provider, i), f"{key!r} is not one of {PROVIDER_LISTS[provider]}")
                continue
            key = str(key).strip()
            if key in found[provider] and found[provider][key] != category:
                reader.problem(where + (provider, i), f"{provider} list {key!r} is also under categories."
                                                      f"{found[provider][key]}: a list can be one category only")
                continue
            found[provider][key] = category


def read_examples(reader: KeywordReader, where, value, categories: tuple[str, ...],
                  codes: list[str]) -> tuple[Example, ...]:
    """`examples:`: label -> language -> replies, which the trained model learns from with its corpus."""
    if value is None:
        return ()
    labels = ["opt_out", *(f"opt_out:{c}" for c in categories), "help", "opt_in", "none"]
    if not isinstance(value, dict):
        reader.problem(where, f"must map labels ({', '.join(labels)}) to languages and their example replies")
        return ()
    found = []
    for label, by_language in value.items():
        if label not in labels:
            reader.problem(where + (label,), f"{label!r} is not a label: write one of {', '.join(labels)}")
            continue
        if not isinstance(by_language, dict):
            reader.problem(where + (label,), "must map language codes to lists of example replies")
            continue
        for code, replies in by_language.items():
            if code not in codes:
                reader.problem(where + (label, code), f"{code!r} is not one of the languages ({', '.join(codes)})")
                continue
            found.extend(Example(str(label), reply, str(code))
                         for reply in reader.word_list(where + (label, code), replies))
    return tuple(found)


def by_word(phrases: list[tuple[str, ...]], at: int) -> Mapping[str, tuple[tuple[str, ...], ...]]:
    """Phrases grouped by their word `at` (0: first, -1: last), longest first: one look-up per word."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted(set(phrases), key=len, reverse=True):
        grouped.setdefault(phrase[at], []).append(phrase)
    return MappingProxyType({word: tuple(group) for word, group in grouped.items()})


def sentence_reading(readings: list[dict[str, list[str]]]) -> SentenceReading:
    """One reading of a stop word shared by languages (STOP): every language's neighbours count."""
    def phrases(name, at):
        return by_word([words(p) for lists in readings for p in lists[name]], at)
    return SentenceReading(
        aimed=phrases("aimed", 0),
        not_before=phrases("not_before", -1),
        between=frozenset(w for lists in readings for p in lists["between"] for w in words(p)[:1]),
        not_after=frozenset(w for lists in readings for p in lists["not_after"] for w in words(p)[:1]),
        other_verb_endings=tuple(dict.fromkeys(e.lower() for lists in readings for e in lists["other_verb_endings"])),
    )
