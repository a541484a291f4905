"""keywords.yaml's `brands:`, `opt_out_scope` and `every_brand_words`, read into Brands (core/brands.py),
each problem noted with its line."""

from __future__ import annotations

from .brands import EVERY_BRAND_WORDS, FIRST, KEY, SCOPES, Brand, Brands
from .keyword_reader import KeywordReader
from .keyword_templates import check_template
from .keywords import OPTIONAL_REPLY_KINDS, REPLY_KINDS
from .text import words

BRAND_FIELDS = ("name", "help_contact", "senders", "email", "accounts", "replies")
TOP_LEVEL = ("brands", "opt_out_scope", "every_brand_words")


def read_brands(reader: KeywordReader, data: dict, stop_words: set[tuple[str, ...]],
                languages: tuple[str, ...] = ()) -> Brands:
    """The file's brands. `stop_words`: every stop word of every language, as words (an every-brand word
    must be one, or no message would ever be read as it); `languages`: the file's language codes."""
    scope = data.get("opt_out_scope", "brand")
    if scope not in SCOPES:
        reader.problem(("opt_out_scope",), f"{scope!r} is not a choice: write brand (an opt-out stops its brand's "
                                           "messages) or everything (one opt-out stops every brand's)")
        scope = "brand"
    given = data.get("every_brand_words")
    every = reader.word_list(("every_brand_words",), given) if given is not None else list(EVERY_BRAND_WORDS)
    for i, word in enumerate(every):
        if given is not None and tuple(words(word)) not in stop_words:
            reader.problem(("every_brand_words", i), f"{word!r} is no language's stop word: add it to a stop list")
    raw = data.get("brands")
    if raw is None:
        return Brands(opt_out_scope=scope, every_brand_words=frozenset(tuple(words(w)) for w in every))
    if not isinstance(raw, dict) or not raw:
        reader.problem(("brands",), "must map brand keys (acme, globex ...) to their name, help_contact and senders")
        raw = {}
    brands, owner = [], {}
    for i, (key, fields) in enumerate(raw.items()):
        where = ("brands", key)
        if not isinstance(key, str) or not KEY.fullmatch(key):
            reader.problem(where, "a brand key is lower-case letters, digits, - and _ (it appears in URLs and "
                                  "the API), like acme")
            continue
        if not isinstance(fields, dict):
            reader.problem(where, "must be a mapping with name, help_contact, senders and email")
            continue
        for unknown in sorted(set(fields) - set(BRAND_FIELDS)):
            reader.problem(where + (unknown,), f"is not a brand setting ({', '.join(BRAND_FIELDS)})")
        lists = {name: tuple(reader.word_list(where + (name,), fields.get(name)))
                 for name in ("senders", "email", "accounts")}
        for name, values in lists.items():
            for value in values:
                other = owner.setdefault(value.strip().lower(), key)
                if other != key:
                    reader.problem(where + (name,), f"{value!r} is also {other}'s: a sender belongs to one brand")
        brands.append(Brand(key=key, stored=FIRST if i == 0 else key,
                            name=reader.text(where + ("name",), fields.get("name")) or key,
                            help_contact=reader.text(where + ("help_contact",), fields.get("help_contact")) or "",
                            senders=lists["senders"], email=tuple(v.lower() for v in lists["email"]),
                            provider_accounts=tuple(v.lower() for v in lists["accounts"]),
                            replies=read_replies(reader, where + ("replies",), fields.get("replies"), languages)))
    return Brands(tuple(brands), scope, frozenset(tuple(words(w)) for w in every))


def read_replies(reader: KeywordReader, where: tuple, value, languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """A brand's own SMS replies, `{en: {help: "...", stopped_all: "..."}}`: each a template as in
    languages.<code>.replies.sms (checked alike; check_replies_fit then checks each fits one SMS)."""
    if value is None:
        return {}
    kinds = REPLY_KINDS["sms"] + OPTIONAL_REPLY_KINDS["sms"]
    if not isinstance(value, dict):
        reader.problem(where, "must map language codes to SMS replies, like en: {help: \"...\"}")
        return {}
    replies: dict[str, dict[str, str]] = {}
    for code, texts in value.items():
        if code not in languages:
            reader.problem(where + (code,), f"{code!r} is not one of the languages ({', '.join(languages)})")
            continue
        if not isinstance(texts, dict):
            reader.problem(where + (code,), f"must map reply kinds ({', '.join(kinds)}) to texts")
            continue
        for kind, text in texts.items():
            if kind not in kinds:
                reader.problem(where + (code, kind), f"is not an SMS reply ({', '.join(kinds)})")
            elif reader.text(where + (code, kind), text):
                check_template(reader, where + (code, kind), text, sms=True)
                replies.setdefault(code, {})[kind] = text
    return replies
