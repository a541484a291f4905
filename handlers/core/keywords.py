"""Load keywords.yaml into a frozen KeywordTable, or raise KeywordFileError naming every problem."""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from types import MappingProxyType

import yaml

from .text import GSM7_LOOKALIKES, sms_encoding, sms_segments, words
from .typos import TypoIndex

# The word lists a language may have, and the action each one means.
WORD_LISTS = {
    "stop": "opt_out",
    "stop_weak": "opt_out",
    "start": "opt_in",
    "start_if_stopped": "opt_in",
    "help": "help",
}
OPTIONAL_LISTS = ("start_if_stopped", "stop_phrases", "not_stop_phrases", "reactions", "joiners", "countries")
# Optional blocks of a language that describe requests in other words, and the lists each may have.
REQUEST_LISTS = ("verbs", "objects", "wants", "unwanted", "negations")
IN_SENTENCE_LISTS = ("words", "aimed", "not_before", "between", "not_after", "other_verb_endings")
GAP = "..."  # in a request verb, where its object goes: "take ... off"
REPLY_KINDS = {
    "sms": ("stopped_all", "stopped_categories", "started_all", "started_categories", "help"),
    # An email confirms a change of state only; each is a subject and a body.
    "email": ("stopped_all", "stopped_categories", "started_all", "started_categories"),
}
# Replies a file needs only for a setting: `ask`, the question put to an unsure message under `ambiguous: ask`.
OPTIONAL_REPLY_KINDS = {"sms": ("ask",), "email": ()}
# What an unsure decision (an opt-out flagged for review) does: opt out as before, or ask first.
AMBIGUOUS_CHOICES = ("opt_out", "ask")
EMAIL_PARTS = ("subject", "body")
# The texts of the preference page (/u/<token>), and the placeholders each may use.
PAGE_TEXTS = ("title", "intro", "focus", "focus_button", "keep", "everything", "save", "saved_title",
              "stopped_all", "stopped", "continuing", "nothing_stopped", "undo", "change_again", "bad_link_title",
              "bad_link", "one_click_done")
# Page texts of earlier versions, no longer shown: tolerated in an operator's file, so that an upgrade
# does not stop the service on them.
RETIRED_PAGE_TEXTS = frozenset({"receiving", "not_receiving"})
# Where a category is one of a provider's own lists (keywords.yaml: categories.<name>.lists), and
# what that provider calls the list: an event about the list is about the category, and an opt-out
# of the category is pushed to the list.
PROVIDER_LISTS = {"sendgrid": "unsubscribe group ids (asm_group_id, numbers)", "mailgun": "tags",
                  "postmark": "message stream ids"}
PAGE_PLACEHOLDERS = frozenset({"brand", "address", "categories", "still_sent", "help"})
PLACEHOLDERS = frozenset({"brand", "help", "categories", "category_words", "start", "stop", "help_word",
                          "still_sent"})


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: 10x faster


class KeywordFileError(Exception):
    """keywords.yaml cannot be used; `problems` lists each one as 'where: what'."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Entry:
    """What a keyword (as a tuple of words) means: its list, the languages it is in, how it was written."""

    kind: str  # a WORD_LISTS key, or "category"
    languages: tuple[str, ...]
    written: str
    category: str | None = None


@dataclass(frozen=True)
class RequestVerb:
    """A verb that, followed by one of its language's objects, asks us to stop ("take ... off" + "me")."""

    head: tuple[str, ...]
    tail: tuple[str, ...]  # words that follow the object ("off"); () if none
    language: str
    written: str
    wants: bool = False  # a negated want ("don't want"): its objects are the language's `unwanted`


@dataclass(frozen=True)
class SentenceReading:
    """How a stop word that is also an ordinary word reads inside a sentence, from its neighbours."""

    # Phrases by the word next to the stop word (aimed: their first; not_before: their last).
    aimed: Mapping[str, tuple[tuple[str, ...], ...]]  # right after it, a request to us ("stop texting")
    not_before: Mapping[str, tuple[tuple[str, ...], ...]]  # right before it, an idiom ("can't stop")
    between: frozenset[str]  # one of these may stand between not_before and the word ("will completely stop")
    not_after: frozenset[str]  # right after it, these make it an idiom ("stop by")
    other_verb_endings: tuple[str, ...]  # a word after it with this ending is another verb ("stop crying")


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    start_word: str  # the word a reply tells people to send to undo an opt-out
    stop_word: str
    help_word: str
    and_word: str
    replies: Mapping[str, Mapping[str, str]]  # channel -> reply kind (email: "kind.subject") -> template
    category_names: Mapping[str, str]  # category -> the name replies use in this language
    # category -> how replies name it inside a sentence ("survey texts"); {} in older files: the name
    category_phrases: Mapping[str, str] = field(default_factory=dict)
    still_sent: str = ""
    page: Mapping[str, str] = field(default_factory=dict)  # PAGE_TEXTS -> text
    descriptions: Mapping[str, str] = field(default_factory=dict)  # category -> a line under its name on the page
    countries: tuple[str, ...] = ()  # where a keyword shared by languages (STOP) most likely means this one


@dataclass(frozen=True)
class KeywordTable:
    path: str
    checksum: str
    loaded_at: str
    brand: str
    help_contact: str
    default_language: str
    languages: Mapping[str, Language]
    categories: tuple[str, ...]
    entries: Mapping[tuple[str, ...], Entry]
    phrases: tuple[tuple[str, str, str], ...]  # (normalised " words ", language, as written)
    not_stop_phrases: tuple[str, ...]  # normalised " words " in which a stop word does not count
    reactions: tuple[tuple[str, ...], ...]
    joiners: frozenset[str]
    longest_keyword: int = field(default=1)
    request_verbs: Mapping[str, tuple[RequestVerb, ...]] = field(default_factory=dict)  # by first word
    # By language (a language's `unwanted` under "<code>:unwanted"), then first word; longest first.
    request_objects: Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]] = field(default_factory=dict)
    request_negations: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)  # by last word
    # Every language's objects and unwanted, by first word: "stop" followed by one is aimed at us.
    request_targets: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    in_sentence: Mapping[tuple[str, ...], SentenceReading] = field(default_factory=dict)  # by stop word
    typos: TypoIndex | None = None
    ambiguous: str = "opt_out"  # an AMBIGUOUS_CHOICES value
    logo_url: str = ""  # optional https URL of the brand's logo, shown on the preference page
    accent_colour: str = ""  # optional #rrggbb of the page's buttons and links
    # provider -> {list (group id, tag, stream) -> category}
    provider_lists: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def lists_of(self, provider: str, categories: tuple[str, ...]) -> tuple[str, ...]:
        """The provider's lists of `categories` (every mapped list when categories is empty)."""
        lists = self.provider_lists.get(provider, {})
        return tuple(key for key, category in lists.items() if not categories or category in categories)

    def language_of_country(self, country: str | None) -> str | None:
        return self._language_by_country.get(country) if country else None

    @cached_property
    def memo(self) -> dict:
        """Answers of pure functions of this table, kept for as long as the table (classify's)."""
        return {}

    @cached_property
    def _language_by_country(self) -> dict[str, str]:
        """Country -> the first language naming it (asked on every SMS: a scan of every language was
        a tenth of the decision's time)."""
        found: dict[str, str] = {}
        for code, lang in self.languages.items():
            for country in lang.countries:
                found.setdefault(country, code)
        return found

    def render(self, channel: str, kind: str, language: str, categories: tuple[str, ...] = ()) -> str:
        """The reply of `kind` in `language`, placeholders filled in."""
        lang = self.languages[language]
        return lang.replies[channel][kind].format(**self._values(lang, categories))

    def render_email(self, kind: str, language: str, categories: tuple[str, ...] = ()) -> tuple[str, str]:
        """(subject, body) of the confirmation email of `kind` in `language`."""
        return tuple(self.render("email", f"{kind}.{part}", language, categories) for part in EMAIL_PARTS)

    def _values(self, lang: Language, categories: tuple[str, ...]) -> dict[str, str]:
        names = [lang.category_names[c] for c in categories]
        phrases = [lang.category_phrases.get(c, lang.category_names[c]) for c in categories]
        spoken = ", ".join(phrases[:-1]) + f" {lang.and_word} " + phrases[-1] if len(phrases) > 1 else "".join(phrases)
        return {
            "brand": self.brand,
            "help": self.help_contact,
            "categories": spoken,
            "category_words": " ".join(n.upper() for n in names),
            "start": lang.start_word.upper(),
            "stop": lang.stop_word.upper(),
            "help_word": lang.help_word.upper(),
            "still_sent": lang.still_sent,
        }


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
                               "categories", "languages"}
        for key in sorted(unknown):
            self.problem((key,), "is not a setting this file knows (brand, logo_url, accent_colour, help_contact, "
                                 "default_language, ambiguous, categories, languages)")
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
        )
        if not self.problems:
            self.check_replies_fit(table)
        if self.problems:
            raise KeywordFileError(self.path, self.problems)
        return table

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


# Words carriers and Twilio act on by themselves (CTIA; Twilio's defaults; ALTO/AYUDA for US Spanish,
# ARRET/AIDE for Canada): if the table reads them differently, the carrier and this service disagree.
CARRIER_WORDS = {
    "stop": "opt_out", "stopall": "opt_out", "unsubscribe": "opt_out", "cancel": "opt_out", "end": "opt_out",
    "quit": "opt_out", "revoke": "opt_out", "optout": "opt_out", "alto": "opt_out", "arret": "opt_out",
    "start": "opt_in", "yes": "opt_in", "unstop": "opt_in",
    "help": "help", "info": "help", "ayuda": "help", "aide": "help",
}


def warnings(table: KeywordTable) -> list[str]:
    """Things that load fine but deserve a look: carrier words read differently, shared words."""
    found = []
    for word, action in CARRIER_WORDS.items():
        entry = table.entries.get((word,))
        if entry is None:
            found.append(f"carrier keyword {word.upper()} is not in the table: carriers act on it "
                         f"({action}) but this service would not record it")
        elif entry.kind == "category":
            found.append(f"carrier keyword {word.upper()} is a category name ({entry.category}): carriers "
                         f"read it as {action}")
        elif WORD_LISTS[entry.kind] != action:
            found.append(f"carrier keyword {word.upper()} means {WORD_LISTS[entry.kind]} here "
                         f"(languages.{entry.languages[0]}.{entry.kind}) but {action} to carriers")
    shared = sorted((" ".join(key), entry.languages) for key, entry in table.entries.items()
                    if entry.kind != "category" and len(entry.languages) > 1 and len(key) == 1)
    if shared:
        found.append("keywords shared by several languages; replies to them use the person's earlier language, "
                     "else their country's, else the first listed: "
                     + "; ".join(f"{word} ({' '.join(langs)})" for word, langs in shared))
    return found
