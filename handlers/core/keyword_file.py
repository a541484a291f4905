"""Read keywords.yaml into a frozen KeywordTable, or raise KeywordFileError naming every problem and its line.

The sections are read by keyword_texts.py (replies, page, descriptions) and keyword_hints.py (requests,
stop words in sentences, countries, provider lists, examples), each noting problems on a KeywordReader
(keyword_reader.py); keyword_templates.py checks the reply templates. Here: the file, and the table."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime, timezone
from types import MappingProxyType

import yaml

from .channels import read_channel_policy
from .keyword_brands import TOP_LEVEL as BRAND_SETTINGS
from .keyword_brands import read_brands
from .keyword_hints import (
    by_word,
    read_countries,
    read_examples,
    read_in_sentence,
    read_provider_lists,
    read_requests,
    sentence_reading,
)
from .keyword_reader import KeywordReader
from .keyword_templates import check_replies_fit
from .keyword_texts import read_category_phrases, read_language_texts
from .keywords import AMBIGUOUS_CHOICES, OPTIONAL_LISTS, PROVIDER_LISTS, WORD_LISTS, Entry, KeywordTable, Language
from .text import words
from .typos import TypoIndex

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: 10x faster


class KeywordFileError(Exception):
    """keywords.yaml cannot be used; `problems` lists each one as 'where: what'."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))

    def one_line(self) -> str:
        """The first problem as `file:line: what`, and how many more: what start-up prints and the
        dashboard's banner shows (`flask check-keywords` lists them all)."""
        first = self.problems[0] if self.problems else "cannot be used"
        line = re.match(r"line (\d+), (.*)", first, re.DOTALL)
        text = f"{self.path}:{line[1]}: {line[2]}" if line else f"{self.path}: {first}"
        more = len(self.problems) - 1
        return text + (f" (and {more} more: flask check-keywords lists them)" if more > 0 else "")


def load_keywords(path: str) -> KeywordTable:
    """Read and validate the file at `path`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise KeywordFileError(path, [f"cannot read the file: {e.strerror}"]) from None
    return parse_keywords(raw, path)


def parse_keywords(raw: bytes, path: str = "keywords.yaml") -> KeywordTable:
    """The table of the file's bytes `raw` (named `path` in its problems); raises KeywordFileError."""
    return _parsed(raw, path)


# Reading the shipped file costs about 0.1 s of CPU (YAML, then every word list and the typo index), and
# the same bytes are read again whenever a file is saved unchanged, a worker reloads or an app is made
# in the same process (the tests make thousands). A table is immutable, so the same bytes share one;
# two is enough for the table served and the one replacing it. A file with problems is not kept.
@functools.lru_cache(maxsize=2)
def _parsed(raw: bytes, path: str) -> KeywordTable:
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
    return _build_table(KeywordReader(path, _line_numbers(node)), raw, data)


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


def _build_table(reader: KeywordReader, raw: bytes, data) -> KeywordTable:
    """The table the file describes; every problem found, with its line, raised at the end at once."""
    if not isinstance(data, dict):
        raise KeywordFileError(reader.path, ["the file must be a mapping with brand, languages and categories"])
    brand = reader.text(("brand",), data.get("brand"))
    help_contact = reader.text(("help_contact",), data.get("help_contact"))
    languages_data = data.get("languages")
    if not isinstance(languages_data, dict) or not languages_data:
        reader.problem(("languages",), "must map language codes (en, fr ...) to their words and replies")
        languages_data = {}
    codes = [str(c) for c in languages_data]
    ambiguous = data.get("ambiguous", "opt_out")
    if ambiguous not in AMBIGUOUS_CHOICES:
        reader.problem(("ambiguous",), f"{ambiguous!r} is not a choice for unsure messages: write opt_out "
                                       "(opt them out and flag them, the default) or ask (ask them first)")
    default_language = data.get("default_language", codes[0] if codes else None)
    if default_language not in languages_data:
        reader.problem(("default_language",),
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
                reader.problem(where, f"{entry.written!r} is also under {other} ({known.written!r}): "
                                      "a keyword can mean only one thing")

    categories_data = data.get("categories") or {}
    if not isinstance(categories_data, dict):
        reader.problem(("categories",), "must map category names to their words in each language")
        categories_data = {}
    category_names: dict[str, dict[str, str]] = {code: {} for code in codes}
    category_phrases: dict[str, dict[str, str]] = {code: {} for code in codes}
    provider_lists: dict[str, dict[str, str]] = {provider: {} for provider in PROVIDER_LISTS}
    for category, names_by_language in categories_data.items():
        where = ("categories", category)
        if not isinstance(names_by_language, dict):
            reader.problem(where, "must map each language code to a list of names, like en: [surveys, survey]")
            continue
        names_by_language = dict(names_by_language)
        read_provider_lists(reader, where + ("lists",), names_by_language.pop("lists", None), category,
                            provider_lists)
        read_category_phrases(reader, where + ("phrases",), names_by_language.pop("phrases", None), category,
                              category_phrases)
        for code in codes:
            if code not in names_by_language:
                reader.problem(where, f"has no names in {code!r} (every language needs them)")
        for code, names in names_by_language.items():
            if code not in languages_data:
                reader.problem(where + (code,), f"{code!r} is not one of the languages ({', '.join(codes)})")
                continue
            given, names = names, reader.word_list(where + (code,), names)
            if names:
                category_names[code][category] = names[0]
            elif given is None or given == []:  # replies name a category by its first name
                reader.problem(where + (code,), "must list at least one name, like [surveys, survey]")
            for i, name in enumerate(names):
                add(words(name), Entry("category", (code,), name, category), where + (code, i))

    for code, phrased in category_phrases.items():
        missing = [str(c) for c in categories_data if c not in phrased]
        if phrased and missing:
            reader.problem(("categories",), f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
                                            f"phrase in {code!r}: give every category a phrase in a language, "
                                            "or none (replies then use the first name)")
    phrases, not_stop, reactions, joiners, languages, country_of = [], [], [], set(), {}, {}
    requests: dict[str, dict] = {"verbs": {}, "objects": {}, "negations": set()}
    in_sentence: dict[tuple[str, ...], list[dict]] = {}
    for code, lang in languages_data.items():
        where = ("languages", code)
        if not isinstance(lang, dict):
            reader.problem(where, "must be a mapping with stop, start, help, stop_phrases and replies")
            continue
        lists = {}
        for list_name in list(WORD_LISTS) + ["stop_phrases", "not_stop_phrases", "reactions", "joiners"]:
            if list_name not in lang and list_name not in OPTIONAL_LISTS:
                reader.problem(where, f"has no {list_name} list")
            lists[list_name] = reader.word_list(where + (list_name,), lang.get(list_name))
        for list_name in WORD_LISTS:
            for i, word in enumerate(lists[list_name]):
                add(words(word), Entry(list_name, (code,), word), where + (list_name, i))
        for phrase in lists["stop_phrases"]:
            phrases.append((" " + " ".join(words(phrase)) + " ", code, phrase))
        not_stop.extend(" " + " ".join(words(phrase)) + " " for phrase in lists["not_stop_phrases"])
        reactions.extend(words(r) for r in lists["reactions"])
        read_requests(reader, where + ("requests",), lang.get("requests"), code, requests)
        read_in_sentence(reader, where + ("stop_in_sentences",), lang.get("stop_in_sentences"), code, entries,
                         in_sentence)
        joiners.update(w for j in lists["joiners"] for w in words(j))
        countries = read_countries(reader, where + ("countries",), lang.get("countries"), country_of)
        replies, still_sent, page, descriptions = read_language_texts(reader, where, lang, categories_data, brand,
                                                                      ambiguous)
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
                           "categories", "languages", "examples", "channels", "buttons", *BRAND_SETTINGS}
    for key in sorted(unknown):
        reader.problem((key,), "is not a setting this file knows (brand, logo_url, accent_colour, help_contact, "
                               "default_language, ambiguous, categories, languages, examples, channels, buttons, "
                               "brands, opt_out_scope, every_brand_words)")
    channel_policy = read_channel_policy(reader, data.get("channels"), data.get("buttons"), tuple(categories_data))
    brands = read_brands(reader, data, {key for key, entry in entries.items() if entry.kind in ("stop", "stop_weak")},
                         tuple(codes))
    examples = read_examples(reader, ("examples",), data.get("examples"), tuple(categories_data), codes)
    logo_url = reader.text(("logo_url",), data.get("logo_url"), required=False) or ""
    if logo_url and not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?/[^\s\"'<>()\\]*", logo_url):
        reader.problem(("logo_url",), "must be an https:// URL of an image, like https://cdn.acme.example/logo.svg")
        logo_url = ""
    accent_colour = reader.text(("accent_colour",), data.get("accent_colour"), required=False) or ""
    if accent_colour and not re.fullmatch(r"#[0-9A-Fa-f]{6}", accent_colour):
        reader.problem(("accent_colour",), "must be a colour written #rrggbb, like \"#0b6e4f\" (in quotes)")
        accent_colour = ""

    table = KeywordTable(
        path=reader.path,
        checksum=hashlib.sha256(raw).hexdigest(),
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
        request_objects=MappingProxyType({code: by_word(o, 0) for code, o in requests["objects"].items()}),
        request_negations=by_word(list(requests["negations"]), -1),
        request_targets=by_word([o for objects in requests["objects"].values() for o in objects], 0),
        in_sentence=MappingProxyType({key: sentence_reading(readings) for key, readings in in_sentence.items()}),
        ambiguous=ambiguous if ambiguous in AMBIGUOUS_CHOICES else "opt_out",
        typos=TypoIndex((key[0] for key, entry in entries.items() if len(key) == 1 and entry.kind in WORD_LISTS),
                        codes),
        logo_url=logo_url,
        accent_colour=accent_colour,
        provider_lists=MappingProxyType({p: MappingProxyType(m) for p, m in provider_lists.items()}),
        examples=examples,
        channel_policy=channel_policy,
        brands=brands,
    )
    if not reader.problems:
        check_replies_fit(reader, table)
    if reader.problems:
        raise KeywordFileError(reader.path, reader.problems)
    return table

