"""Read keywords.yaml into a frozen KeywordTable, or raise KeywordFileError naming every problem and its line."""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType

import yaml

from .keywords import (
    AMBIGUOUS_CHOICES,
    EMAIL_PARTS,
    GAP,
    IN_SENTENCE_LISTS,
    OPTIONAL_LISTS,
    OPTIONAL_REPLY_KINDS,
    PAGE_PLACEHOLDERS,
    PAGE_TEXTS,
    PLACEHOLDERS,
    PROVIDER_LISTS,
    REPLY_KINDS,
    REQUEST_LISTS,
    RETIRED_PAGE_TEXTS,
    WORD_LISTS,
    Entry,
    KeywordTable,
    Language,
    RequestVerb,
    SentenceReading,
)
from .model import Example
from .text import GSM7_LOOKALIKES, sms_encoding, sms_segments, words
from .typos import TypoIndex

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: 10x faster


class KeywordFileError(Exception):
    """keywords.yaml cannot be used; `problems` lists each one as 'where: what'."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


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


def load_keywords(path: str) -> KeywordTable:
    """Read and validate the file at `path`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise KeywordFileError(path, [f"cannot read the file: {e.strerror}"]) from None
    return parse_keywords(raw, path)


def parse_keywords(raw: bytes, path: str = "keywords.yaml") -> KeywordTable:
    try:
        text = raw.decode("utf-8")
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except UnicodeDecodeError as e:
        raise KeywordFileError(path, [f"not UTF-8 text (byte {e.start})"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the file"
        raise KeywordFileError(path, [f"{where}: not valid YAML: {getattr(e, 'problem', e)}"]) from None
    return _Builder(path, raw, data, _line_numbers(node)).build()


def _line_numbers(node, where=()) -> dict[tuple, int]:
    """Map each path in the YAML document (('languages', 'fr', 'stop', 2)) to its 1-based line."""
    lines = {}
    if node is None:
        return lines
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.update(_line_numbers(value, where + (key.value,)))
            lines[where + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_numbers(item, where + (i,)))
    return lines


class _Builder:
    def __init__(self, path, raw, data, lines):
        self.path, self.raw, self.data, self.lines = path, raw, data, lines
        self.problems: list[str] = []

    def problem(self, where: tuple, what: str) -> None:
        line = next((self.lines[where[:n]] for n in range(len(where), -1, -1) if where[:n] in self.lines), None)
        dotted = ".".join(str(p) for p in where) or "(top)"
        self.problems.append(f"line {line}, {dotted}: {what}" if line else f"{dotted}: {what}")

    def text(self, where, value, required=True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, "must be a non-empty text")
            return None
        return value

    def word_list(self, where, value) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, "must be a list of words, like [stop, end]")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if isinstance(item, bool):
                # YAML 1.1 reads bare yes/no/on/off as true/false.
                self.problem(where + (i,), f"{item!r} was read as true/false: put the word in quotes, like \"yes\"")
                continue
            if not isinstance(item, str) or not words(item):
                self.problem(where + (i,), "must be a word or phrase with at least one letter or digit")
                continue
            out.append(item)
        return out

    def build(self) -> KeywordTable:
        data = self.data
        if not isinstance(data, dict):
            raise KeywordFileError(self.path, ["the file must be a mapping with brand, languages and categories"])
        brand = self.text(("brand",), data.get("brand"))
        help_contact = self.text(("help_contact",), data.get("help_contact"))
        languages_data = data.get("languages")
        if not isinstance(languages_data, dict) or not languages_data:
            self.problem(("languages",), "must map language codes (en, fr ...) to their words and replies")
            languages_data = {}
        codes = [str(c) for c in languages_data]
        self.ambiguous = data.get("ambiguous", "opt_out")
        if self.ambiguous not in AMBIGUOUS_CHOICES:
            self.problem(("ambiguous",), f"{self.ambiguous!r} is not a choice for unsure messages: write opt_out "
                                         "(opt them out and flag them, the default) or ask (ask them first)")
        default_language = data.get("default_language", codes[0] if codes else None)
        if default_language not in languages_data:
            self.problem(("default_language",),
                         f"{default_language!r} is not one of the languages ({', '.join(codes)})")

        entries: dict[tuple[str, ...], Entry] = {}
        where_of: dict[tuple[str, ...], tuple] = {}

        def add(key_words, entry, where):
            for key in {key_words, ("".join(key_words),)}:  # "opt out" is also "optout"
                known = entries.get(key)
                if known is None:
                    entries[key] = entry
                    where_of[key] = where
                elif (known.kind, known.category) == (entry.kind, entry.category):
                    if entry.languages[0] not in known.languages:
                        entries[key] = Entry(known.kind, known.languages + entry.languages, known.written,
                                             known.category)
                else:
                    other = ".".join(str(p) for p in where_of[key][:-1])
                    self.problem(where, f"{entry.written!r} is also under {other} ({known.written!r}): "
                                        "a keyword can mean only one thing")

        categories_data = data.get("categories") or {}
        if not isinstance(categories_data, dict):
            self.problem(("categories",), "must map category names to their words in each language")
            categories_data = {}
        category_names: dict[str, dict[str, str]] = {code: {} for code in codes}
        category_phrases: dict[str, dict[str, str]] = {code: {} for code in codes}
        provider_lists: dict[str, dict[str, str]] = {provider: {} for provider in PROVIDER_LISTS}
        for category, names_by_language in categories_data.items():
            where = ("categories", category)
            if not isinstance(names_by_language, dict):
                self.problem(where, "must map each language code to a list of names, like en: [surveys, survey]")
                continue
            names_by_language = dict(names_by_language)
            self.lists(where + ("lists",), names_by_language.pop("lists", None), category, provider_lists)
            self.category_phrases(where + ("phrases",), names_by_language.pop("phrases", None), category,
                                  category_phrases)
            for code in codes:
                if code not in names_by_language:
                    self.problem(where, f"has no names in {code!r} (every language needs them)")
            for code, names in names_by_language.items():
                if code not in languages_data:
                    self.problem(where + (code,), f"{code!r} is not one of the languages ({', '.join(codes)})")
                    continue
                names = self.word_list(where + (code,), names)
                if names:
                    category_names[code][category] = names[0]
                for i, name in enumerate(names):
                    add(words(name), Entry("category", (code,), name, category), where + (code, i))

        for code, phrased in category_phrases.items():
            missing = [str(c) for c in categories_data if c not in phrased]
            if phrased and missing:
                self.problem(("categories",), f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
                                              f"phrase in {code!r}: give every category a phrase in a language, "
                                              "or none (replies then use the first name)")
        phrases, not_stop, reactions, joiners, languages, country_of = [], [], [], set(), {}, {}
        requests: dict[str, dict] = {"verbs": {}, "objects": {}, "negations": set()}
        in_sentence: dict[tuple[str, ...], list[dict]] = {}
        for code, lang in languages_data.items():
            where = ("languages", code)
            if not isinstance(lang, dict):
                self.problem(where, "must be a mapping with stop, start, help, stop_phrases and replies")
                continue
            lists = {}
            for list_name in list(WORD_LISTS) + ["stop_phrases", "not_stop_phrases", "reactions", "joiners"]:
                if list_name not in lang and list_name not in OPTIONAL_LISTS:
                    self.problem(where, f"has no {list_name} list")
                lists[list_name] = self.word_list(where + (list_name,), lang.get(list_name))
            for list_name in WORD_LISTS:
                for i, word in enumerate(lists[list_name]):
                    add(words(word), Entry(list_name, (code,), word), where + (list_name, i))
            for phrase in lists["stop_phrases"]:
                phrases.append((" " + " ".join(words(phrase)) + " ", code, phrase))
            not_stop.extend(" " + " ".join(words(phrase)) + " " for phrase in lists["not_stop_phrases"])
            reactions.extend(words(r) for r in lists["reactions"])
            self.requests(where + ("requests",), lang.get("requests"), code, requests)
            self.in_sentence(where + ("stop_in_sentences",), lang.get("stop_in_sentences"), code, entries,
                             in_sentence)
            joiners.update(w for j in lists["joiners"] for w in words(j))
            countries = self.countries(where + ("countries",), lang.get("countries"), country_of)
            replies = self.replies(where + ("replies",), lang.get("replies"))
            still_sent = self.text(where + ("still_sent",), lang.get("still_sent")) or ""
            page = self.page(where + ("page",), lang.get("page"))
            descriptions = self.descriptions(where + ("descriptions",), lang.get("descriptions"), categories_data)
            # Grammar that depends on the brand, e.g. French "d'Acme" (not "de Acme"), written once here.
            elided = self.word_list(where + ("elision",), lang.get("elision"))
            if elided and brand and starts_with_vowel(brand):
                replies = MappingProxyType({channel: MappingProxyType({k: elide(t, elided) for k, t in kinds.items()})
                                            for channel, kinds in replies.items()})
                page = MappingProxyType({k: elide(t, elided) for k, t in page.items()})
                descriptions = MappingProxyType({k: elide(t, elided) for k, t in descriptions.items()})
            if lists["stop"] and lists["start"] and lists["help"]:
                languages[code] = Language(
                    code=code,
                    name=str(lang.get("name") or code),
                    start_word=lists["start"][0],
                    stop_word=lists["stop"][0],
                    help_word=lists["help"][0],
                    and_word=(lists["joiners"] or ["+"])[0],
                    replies=replies,
                    category_names=MappingProxyType(category_names.get(code, {})),
                    category_phrases=MappingProxyType(category_phrases.get(code, {})),
                    countries=countries,
                    still_sent=still_sent,
                    page=page,
                    descriptions=descriptions,
                )
        unknown = set(data) - {"brand", "logo_url", "accent_colour", "help_contact", "default_language", "ambiguous",
                               "categories", "languages", "examples"}
        for key in sorted(unknown):
            self.problem((key,), "is not a setting this file knows (brand, logo_url, accent_colour, help_contact, "
                                 "default_language, ambiguous, categories, languages, examples)")
        examples = self.examples(("examples",), data.get("examples"), tuple(categories_data), codes)
        logo_url = self.text(("logo_url",), data.get("logo_url"), required=False) or ""
        if logo_url and not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/[^\s\"'<>()\\]*", logo_url):
            self.problem(("logo_url",), "must be an https:// URL of an image, like https://cdn.acme.example/logo.svg")
            logo_url = ""
        accent_colour = self.text(("accent_colour",), data.get("accent_colour"), required=False) or ""
        if accent_colour and not re.fullmatch(r"#[0-9A-Fa-f]{6}", accent_colour):
            self.problem(("accent_colour",), "must be a colour written #rrggbb, like \"#0b6e4f\" (in quotes)")
            accent_colour = ""

        table = KeywordTable(
            path=self.path,
            checksum=hashlib.sha256(self.raw).hexdigest(),
            loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            brand=brand or "",
            help_contact=help_contact or "",
            default_language=default_language if default_language in languages else (codes or ["en"])[0],
            languages=MappingProxyType(languages),
            categories=tuple(categories_data),
            entries=MappingProxyType(entries),
            phrases=tuple(phrases),
            not_stop_phrases=tuple(dict.fromkeys(not_stop)),
            reactions=tuple(reactions),
            joiners=frozenset(joiners),
            longest_keyword=max((len(k) for k in entries), default=1),
            request_verbs=MappingProxyType({w: tuple(v) for w, v in requests["verbs"].items()}),
            request_objects=MappingProxyType({code: _by_word(o, 0) for code, o in requests["objects"].items()}),
            request_negations=_by_word(list(requests["negations"]), -1),
            request_targets=_by_word([o for objects in requests["objects"].values() for o in objects], 0),
            in_sentence=MappingProxyType({key: _merged(readings) for key, readings in in_sentence.items()}),
            ambiguous=self.ambiguous if self.ambiguous in AMBIGUOUS_CHOICES else "opt_out",
            typos=TypoIndex((key[0] for key, entry in entries.items() if len(key) == 1 and entry.kind in WORD_LISTS),
                            codes),
            logo_url=logo_url,
            accent_colour=accent_colour,
            provider_lists=MappingProxyType({p: MappingProxyType(m) for p, m in provider_lists.items()}),
            examples=examples,
        )
        if not self.problems:
            self.check_replies_fit(table)
        if self.problems:
            raise KeywordFileError(self.path, self.problems)
        return table

    def examples(self, where, value, categories: tuple[str, ...], codes: list[str]) -> tuple[Example, ...]:
        """`examples:`: label -> language -> replies, which the trained model learns from with its corpus."""
        if value is None:
            return ()
        labels = ["opt_out", *(f"opt_out:{c}" for c in categories), "help", "opt_in", "none"]
        if not isinstance(value, dict):
            self.problem(where, f"must map labels ({', '.join(labels)}) to languages and their example replies")
            return ()
        found = []
        for label, by_language in value.items():
            if label not in labels:
                self.problem(where + (label,), f"{label!r} is not a label: write one of {', '.join(labels)}")
                continue
            if not isinstance(by_language, dict):
                self.problem(where + (label,), "must map language codes to lists of example replies")
                continue
            for code, replies in by_language.items():
                if code not in codes:
                    self.problem(where + (label, code), f"{code!r} is not one of the languages ({', '.join(codes)})")
                    continue
                found.extend(Example(str(label), reply, str(code))
                             for reply in self.word_list(where + (label, code), replies))
        return tuple(found)

    def lists(self, where, value, category: str, found: dict[str, dict[str, str]]) -> None:
        """Read a category's provider lists into found[provider][list] = category."""
        if value is None:
            return
        if not isinstance(value, dict):
            self.problem(where, "must map providers to their lists, like sendgrid: [12345], mailgun: [promos]")
            return
        for provider, keys in value.items():
            if provider not in PROVIDER_LISTS:
                self.problem(where + (provider,), f"{provider!r} is not a provider with lists "
                                                  f"({', '.join(PROVIDER_LISTS)})")
                continue
            if not isinstance(keys, list) or not keys:
                self.problem(where + (provider,), f"must be a list of {PROVIDER_LISTS[provider]}")
                continue
            for i, key in enumerate(keys):
                numeric = isinstance(key, int) and not isinstance(key, bool) and key > 0
                if (provider == "sendgrid" and not numeric) or (
                        provider != "sendgrid" and not (isinstance(key, str) and key.strip())):
                    self.problem(where + (provider, i), f"{key!r} is not one of {PROVIDER_LISTS[provider]}")
                    continue
                key = str(key).strip()
                if key in found[provider] and found[provider][key] != category:
                    self.problem(where + (provider, i), f"{provider} list {key!r} is also under categories."
                                                        f"{found[provider][key]}: a list can be one category only")
                    continue
                found[provider][key] = category

    def category_phrases(self, where, value, category: str, found: dict[str, dict[str, str]]) -> None:
        """Read a category's phrases (language -> how replies name it) into found[language][category]."""
        if value is None:
            return
        if not isinstance(value, dict):
            self.problem(where, "must map each language code to how replies name the category, "
                                "like en: survey texts")
            return
        for code, phrase in value.items():
            if code not in found:
                self.problem(where + (code,), f"{code!r} is not one of the languages ({', '.join(found)})")
            elif self.text(where + (code,), phrase) is not None:
                if "{" in phrase or "}" in phrase:
                    self.problem(where + (code,), "a phrase takes no placeholders")
                    continue
                self.check_template(where + (code,), phrase, sms=True)  # it goes into SMS replies: GSM-7 only
                found[code][category] = phrase.strip()

    def block(self, where, value, known: tuple[str, ...]) -> dict[str, list[str]]:
        """An optional mapping of word lists (requests, stop_in_sentences), each list checked."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"must be a mapping with the lists {', '.join(known)}")
            return {}
        for key in value:
            if key not in known:
                self.problem(where + (key,), f"is not a list this block knows ({', '.join(known)})")
        return {key: self.word_list(where + (key,), value.get(key)) for key in known}

    def requests(self, where, value, code: str, requests: dict) -> None:
        lists = self.block(where, value, REQUEST_LISTS)
        if not lists:
            return
        for verbs, objects, example in (("verbs", "objects", "me"), ("wants", "unwanted", "texts")):
            if lists[verbs] and not lists[objects]:
                self.problem(where, f"has {verbs} but no {objects}: a {verbs[:-1]} is a request only with what it "
                                    f"is about, such as \"{example}\"")
        for list_name in ("verbs", "wants"):
            for i, written in enumerate(lists[list_name]):
                parts = written.split(GAP)
                head, tail = words(parts[0]), words(GAP.join(parts[1:]))
                if len(parts) > 2 or not head or (len(parts) == 2 and not tail):
                    self.problem(where + (list_name, i), f"{written!r}: write the words before and after the "
                                                         f"object around one {GAP}, like \"take {GAP} off\"")
                    continue
                verb = RequestVerb(head, tail, code, written, wants=list_name == "wants")
                requests["verbs"].setdefault(head[0], []).append(verb)
        requests["objects"].setdefault(code, []).extend(words(o) for o in lists["objects"])
        requests["objects"].setdefault(f"{code}:unwanted", []).extend(words(o) for o in lists["unwanted"])
        requests["negations"].update(words(n) for n in lists["negations"])

    def in_sentence(self, where, value, code: str, entries: dict, in_sentence: dict) -> None:
        lists = self.block(where, value, IN_SENTENCE_LISTS)
        for i, word in enumerate(lists.get("words", [])):
            entry = entries.get(words(word))
            if entry is None or entry.kind != "stop" or code not in entry.languages:
                self.problem(where + ("words", i), f"{word!r} is not one of languages.{code}.stop: only a stop "
                                                   "word is read with its neighbours")
                continue
            in_sentence.setdefault(words(word), []).append(lists)
        for i, ending in enumerate(lists.get("other_verb_endings", [])):
            if not ending.isalpha():
                self.problem(where + ("other_verb_endings", i), f"{ending!r} must be letters only, like ing")

    def countries(self, where, value, country_of: dict) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(where, "must be a list of two-letter country codes, like [ES, MX]")
            return ()
        out = []
        for i, country in enumerate(value):
            if not (isinstance(country, str) and len(country) == 2 and country.isalpha() and country.isupper()):
                self.problem(where + (i,), f"{country!r} is not a two-letter country code in capitals (ES, MX ...)")
            elif country in country_of:
                self.problem(where + (i,), f"{country} is also listed under {country_of[country]}: "
                                           "a country can hint at one language only")
            else:
                country_of[country] = ".".join(str(p) for p in where[:2])
                out.append(country)
        return tuple(out)

    def descriptions(self, where, value, categories) -> Mapping[str, str]:
        """Optional: category -> one line saying what it is and how often it comes."""
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, dict):
            self.problem(where, "must map each category to a short description, like promotions: sales, weekly")
            return MappingProxyType({})
        texts = {}
        for category, text in value.items():
            if category not in categories:
                self.problem(where + (category,), f"{category!r} is not one of the categories "
                                                  f"({', '.join(map(str, categories))})")
            elif self.text(where + (category,), text) is not None:
                if "{" in text or "}" in text:
                    self.problem(where + (category,), "a description takes no placeholders")
                texts[category] = text
        for category in categories:
            if texts and category not in value:
                self.problem(where, f"has no description of {category!r} (describe every category, or none)")
        return MappingProxyType(texts)

    def page(self, where, value) -> Mapping[str, str]:
        if not isinstance(value, dict):
            self.problem(where, "the language has no page texts (" + ", ".join(PAGE_TEXTS) + ")")
            return MappingProxyType({})
        for key in value:
            if key not in PAGE_TEXTS and key not in RETIRED_PAGE_TEXTS:
                self.problem(where + (key,), f"is not a text of the page ({', '.join(PAGE_TEXTS)})")
        texts = {}
        for key in PAGE_TEXTS:
            text = self.text(where + (key,), value.get(key))
            if text is None:
                continue
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            except ValueError as e:
                self.problem(where + (key,), f"broken placeholder ({e})")
                continue
            for name in sorted(fields - PAGE_PLACEHOLDERS):
                self.problem(where + (key,), f"unknown placeholder {{{name}}}; known: "
                                             + ", ".join("{" + p + "}" for p in sorted(PAGE_PLACEHOLDERS)))
            texts[key] = text
        return MappingProxyType(texts)

    def replies(self, where, value) -> Mapping[str, Mapping[str, str]]:
        if not isinstance(value, dict):
            self.problem(where, "the language has no replies (it needs replies.sms with "
                                + ", ".join(REPLY_KINDS["sms"]) + ")")
            return {}
        out = {}
        for channel, kinds in REPLY_KINDS.items():
            templates = value.get(channel)
            if not isinstance(templates, dict):
                self.problem(where, f"has no {channel} replies ({', '.join(kinds)})")
                continue
            flat = {}
            optional = OPTIONAL_REPLY_KINDS[channel]
            for kind in kinds + optional:
                if kind in optional and kind not in templates:
                    if self.ambiguous == kind:  # needed only with `ambiguous: ask`
                        self.problem(where + (channel,), f"has no {kind} reply: with ambiguous: {kind}, unsure "
                                                         "messages are asked a question in their language")
                    continue
                if channel == "sms":
                    flat[kind] = self.text(where + (channel, kind), templates.get(kind))
                    continue
                parts = templates.get(kind)
                if not isinstance(parts, dict):
                    self.problem(where + (channel, kind), "must have a subject and a body")
                    continue
                for part in EMAIL_PARTS:
                    flat[f"{kind}.{part}"] = self.text(where + (channel, kind, part), parts.get(part))
            for kind in templates:
                if kind not in kinds + optional:
                    self.problem(where + (channel, kind),
                                 f"is not a reply this service sends ({', '.join(kinds + optional)})")
            for key, template in flat.items():
                if template is not None:
                    self.check_template(where + (channel, *key.split(".")), template, sms=channel == "sms")
            out[channel] = MappingProxyType({k: t for k, t in flat.items() if t is not None})
        return MappingProxyType(out)

    def check_template(self, where, template: str, sms: bool) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as e:
            self.problem(where, f"broken placeholder ({e}); write {{{{ and }}}} for literal braces")
            return
        for name in fields:
            if name not in PLACEHOLDERS:
                self.problem(where, f"unknown placeholder {{{name}}}; known: "
                                    + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS)))
        lookalikes = sorted({ch for ch in template if ch in GSM7_LOOKALIKES}) if sms else []
        if lookalikes:
            fixes = ", ".join(f"{ch!r} -> {GSM7_LOOKALIKES[ch]!r}" for ch in lookalikes)
            self.problem(where, f"uses characters that force UCS-2 (70 characters a text) where GSM-7 has "
                                f"the same: {fixes}")

    def check_replies_fit(self, table: KeywordTable) -> None:
        """Every reply, with the longest values its placeholders can take, fits one SMS segment."""
        for code, lang in table.languages.items():
            for kind in lang.replies.get("sms", {}):
                text = table.render("sms", kind, code, table.categories)
                if sms_segments(text) > 1:
                    encoding, length = sms_encoding(text)
                    limit = 160 if encoding == "GSM-7" else 70
                    self.problem(("languages", code, "replies", "sms", kind),
                                 f"does not fit one SMS: {length} characters in {encoding} (limit {limit}) "
                                 f"when filled in as {text!r}")


def _by_word(phrases: list[tuple[str, ...]], at: int) -> Mapping[str, tuple[tuple[str, ...], ...]]:
    """Phrases grouped by their word `at` (0: first, -1: last), longest first: one look-up per word."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted(set(phrases), key=len, reverse=True):
        grouped.setdefault(phrase[at], []).append(phrase)
    return MappingProxyType({word: tuple(group) for word, group in grouped.items()})


def _merged(readings: list[dict[str, list[str]]]) -> SentenceReading:
    """One reading of a stop word shared by languages (STOP): every language's neighbours count."""
    def phrases(name, at):
        return _by_word([words(p) for lists in readings for p in lists[name]], at)
    return SentenceReading(
        aimed=phrases("aimed", 0),
        not_before=phrases("not_before", -1),
        between=frozenset(w for lists in readings for p in lists["between"] for w in words(p)[:1]),
        not_after=frozenset(w for lists in readings for p in lists["not_after"] for w in words(p)[:1]),
        other_verb_endings=tuple(dict.fromkeys(e.lower() for lists in readings for e in lists["other_verb_endings"])),
    )
