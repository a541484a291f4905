"""Readers of what keywords.yaml gives the service to say: replies, page texts, category descriptions and
phrases, and the grammar that depends on the brand (elision)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from .keyword_reader import KeywordReader
from .keyword_templates import check_template
from .keywords import (
    EMAIL_PARTS,
    OPTIONAL_PAGE_TEXTS,
    OPTIONAL_REPLY_KINDS,
    PAGE_PLACEHOLDERS,
    PAGE_TEXTS,
    REPLY_KINDS,
    RETIRED_PAGE_TEXTS,
)


def starts_with_vowel(text: str) -> bool:
    """Whether `text` starts with a vowel sound as elision rules read it (É and À count; H and Y do not)."""
    first = unicodedata.normalize("NFD", text.strip()[:1])[:1].lower()
    return first in "aeiou" if first else False


def elide(template: str, elided: list[str]) -> str:
    """`template` with each of these words before {brand} elided: "de {brand}" -> "d'{brand}"."""
    for word in elided:
        template = re.sub(rf"(?<!\w)({re.escape(word[:-1])}){re.escape(word[-1])} \{{brand\}}", r"\1'{brand}",
                          template, flags=re.I)
    return template


def read_language_texts(reader: KeywordReader, where, lang: dict, categories, brand: str | None, ambiguous):
    """A language's (replies, still_sent, page, descriptions), elided before a brand that starts with a vowel."""
    replies = read_replies(reader, where + ("replies",), lang.get("replies"), ambiguous)
    still_sent = reader.text(where + ("still_sent",), lang.get("still_sent")) or ""
    page = read_page(reader, where + ("page",), lang.get("page"))
    descriptions = read_descriptions(reader, where + ("descriptions",), lang.get("descriptions"), categories)
    # Grammar that depends on the brand, e.g. French "d'Acme" (not "de Acme"), written once here.
    elided = reader.word_list(where + ("elision",), lang.get("elision"))
    if elided and brand and starts_with_vowel(brand):
        replies = MappingProxyType({channel: MappingProxyType({k: elide(t, elided) for k, t in kinds.items()})
                                    for channel, kinds in replies.items()})
        page = MappingProxyType({k: elide(t, elided) for k, t in page.items()})
        descriptions = MappingProxyType({k: elide(t, elided) for k, t in descriptions.items()})
    return replies, still_sent, page, descriptions


def read_replies(reader: KeywordReader, where, value, ambiguous) -> Mapping[str, Mapping[str, str]]:
    """`replies:`: channel -> kind -> template (an email's kind as `kind.subject` and `kind.body`)."""
    if not isinstance(value, dict):
        reader.problem(where, "the language has no replies (it needs replies.sms with "
                              + ", ".join(REPLY_KINDS["sms"]) + ")")
        return {}
    out = {}
    for channel, kinds in REPLY_KINDS.items():
        templates = value.get(channel)
        if not isinstance(templates, dict):
            reader.problem(where, f"has no {channel} replies ({', '.join(kinds)})")
            continue
        flat = {}
        optional = OPTIONAL_REPLY_KINDS[channel]
        for kind in kinds + optional:
            if kind in optional and kind not in templates:
                if ambiguous == kind:  # needed only with `ambiguous: ask`
                    reader.problem(where + (channel,), f"has no {kind} reply: with ambiguous: {kind}, unsure "
                                                       "messages are asked a question in their language")
                continue
            if channel == "sms":
                flat[kind] = reader.text(where + (channel, kind), templates.get(kind))
                continue
            parts = templates.get(kind)
            if not isinstance(parts, dict):
                reader.problem(where + (channel, kind), "must have a subject and a body")
                continue
            for part in EMAIL_PARTS:
                flat[f"{kind}.{part}"] = reader.text(where + (channel, kind, part), parts.get(part))
        for kind in templates:
            if kind not in kinds + optional:
                reader.problem(where + (channel, kind),
                               f"is not a reply this service sends ({', '.join(kinds + optional)})")
        for key, template in flat.items():
            if template is not None:
                check_template(reader, where + (channel, *key.split(".")), template, sms=channel == "sms")
        out[channel] = MappingProxyType({k: t for k, t in flat.items() if t is not None})
    return MappingProxyType(out)


def read_page(reader: KeywordReader, where, value) -> Mapping[str, str]:
    """`page:`: the preference page's texts, each with only the page's placeholders."""
    if not isinstance(value, dict):
        reader.problem(where, "the language has no page texts (" + ", ".join(PAGE_TEXTS) + ")")
        return MappingProxyType({})
    for key in value:
        if key not in PAGE_TEXTS and key not in OPTIONAL_PAGE_TEXTS and key not in RETIRED_PAGE_TEXTS:
            known = ", ".join(PAGE_TEXTS + tuple(OPTIONAL_PAGE_TEXTS))
            reader.problem(where + (key,), f"is not a text of the page ({known})")
    texts = {}
    for key in PAGE_TEXTS + tuple(OPTIONAL_PAGE_TEXTS):
        text = reader.text(where + (key,), value.get(key), required=key in PAGE_TEXTS)
        if text is None:
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as e:
            reader.problem(where + (key,), f"broken placeholder ({e})")
            continue
        for name in sorted(fields - PAGE_PLACEHOLDERS):
            reader.problem(where + (key,), f"unknown placeholder {{{name}}}; known: "
                                           + ", ".join("{" + p + "}" for p in sorted(PAGE_PLACEHOLDERS)))
        texts[key] = text
    return MappingProxyType({**OPTIONAL_PAGE_TEXTS, **texts})


def read_descriptions(reader: KeywordReader, where, value, categories) -> Mapping[str, str]:
    """Optional: category -> one line saying what it is and how often it comes."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        reader.problem(where, "must map each category to a short description, like promotions: sales, weekly")
        return MappingProxyType({})
    texts = {}
    for category, text in value.items():
        if category not in categories:
            reader.problem(where + (category,), f"{category!r} is not one of the categories "
                                                f"({', '.join(map(str, categories))})")
        elif reader.text(where + (category,), text) is not None:
            if "{" in text or "}" in text:
                reader.problem(where + (category,), "a description takes no placeholders")
            texts[category] = text
    for category in categories:
        if texts and category not in value:
            reader.problem(where, f"has no description of {category!r} (describe every category, or none)")
    return MappingProxyType(texts)


def read_category_phrases(reader: KeywordReader, where, value, category: str,
                          found: dict[str, dict[str, str]]) -> None:
    """Read a category's phrases (language -> how replies name it) into found[language][category]."""
    if value is None:
        return
    if not isinstance(value, dict):
        reader.problem(where, "must map each language code to how replies name the category, "
                              "like en: survey texts")
        return
    for code, phrase in value.items():
        if code not in found:
            reader.problem(where + (code,), f"{code!r} is not one of the languages ({', '.join(found)})")
        elif reader.text(where + (code,), phrase) is not None:
            if "{" in phrase or "}" in phrase:
                reader.problem(where + (code,), "a phrase takes no placeholders")
                continue
            check_template(reader, where + (code,), phrase, sms=True)  # it goes into SMS replies: GSM-7 only
            found[code][category] = phrase.strip()
