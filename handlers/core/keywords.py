"""The keyword table: what each word and phrase of keywords.yaml means, and the replies, frozen once
loaded (handlers/core/keyword_file.py reads and checks the file; keyword_lint.py warns about it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .brands import Brand, Brands
from .channels import DEFAULT_POLICY, ChannelPolicy
from .model import Example, Model
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
# Replies a file needs only for a setting: `ask`, the question put to an unsure message under `ambiguous: ask`;
# and `start_unverified`, the email answering an opt-in whose sender SPF and DKIM did not verify (without
# it, nothing is sent to them).
OPTIONAL_REPLY_KINDS = {"sms": ("ask",), "email": ("start_unverified",)}
# What an unsure decision (an opt-out flagged for review) does: opt out as before, or ask first.
AMBIGUOUS_CHOICES = ("opt_out", "ask")
EMAIL_PARTS = ("subject", "body")
# The texts of the preference page (/u/<token>), and the placeholders each may use.
PAGE_TEXTS = ("title", "intro", "focus", "focus_button", "keep", "everything", "save", "saved_title",
              "stopped_all", "stopped", "continuing", "nothing_stopped", "undo", "change_again", "bad_link_title",
              "bad_link", "one_click_done", "one_click_replayed", "other_categories")
# Page texts of earlier versions, no longer shown: tolerated in an operator's file, so that an upgrade
# does not stop the service on them.
RETIRED_PAGE_TEXTS = frozenset({"receiving", "not_receiving"})
# Page texts added later: optional in a file (an upgrade must not stop the service on them); a language
# without one shows this English text.
OPTIONAL_PAGE_TEXTS = {
    "already_stopped_all": "{address} is unsubscribed from every marketing message from {brand}.",
    "already_stopped": "{address} is already unsubscribed from: {categories}.",
    "started": "You are subscribed again: you will get every kind of message from {brand}.",
    "everything_legend": "Or",
    "form_expired_title": "Your choices were not saved",
    "form_expired": "This page was open for a long time, or your browser did not keep its cookie, so we could "
                    "not be sure the choice came from you. Nothing has changed: open the page again and save once "
                    "more.",
}
# Where a category is one of a provider's own lists (keywords.yaml: categories.<name>.lists), and
# what that provider calls the list: an event about the list is about the category, and an opt-out
# of the category is pushed to the list.
PROVIDER_LISTS = {"sendgrid": "unsubscribe group ids (asm_group_id, numbers)", "mailgun": "tags",
                  "postmark": "message stream ids"}
PAGE_PLACEHOLDERS = frozenset({"brand", "address", "categories", "still_sent", "help"})
PLACEHOLDERS = frozenset({"brand", "help", "categories", "category_words", "start", "stop", "help_word",
                          "still_sent"})


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
    examples: tuple[Example, ...] = ()  # the file's own `examples:`, which the model also learns from
    channel_policy: ChannelPolicy = DEFAULT_POLICY  # how WhatsApp's and RCS' consents relate to SMS'; buttons
    model: Model | None = None  # the trained model behind the rules (handlers/core/understanding.py), if any
    brands: Brands = field(default_factory=Brands)  # `brands:` and how far an opt-out reaches (core/brands.py)

    def lists_of(self, provider: str, categories: tuple[str, ...]) -> tuple[str, ...]:
        """The provider's lists of `categories` (every mapped list when categories is empty)."""
        lists = self.provider_lists.get(provider, {})
        return tuple(key for key, category in lists.items() if not categories or category in categories)

    def display_name(self, category: str) -> str:
        """How operators and people see a category (its first name in the default language: "promos"),
        on the dashboard, in the CLI and in HELP; the key ("promotions") stays internal."""
        return self.languages[self.default_language].category_names.get(category, category)

    def category_named(self, name: str) -> str | None:
        """The category a key or a display name (any case) stands for, or None."""
        wanted = name.strip().casefold()
        for category in self.categories:
            if wanted in (category.casefold(), self.display_name(category).casefold()):
                return category
        return None

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

    def render(self, channel: str, kind: str, language: str, categories: tuple[str, ...] = (),
               brand: Brand | None = None) -> str:
        """The reply of `kind` in `language`, placeholders filled in; {brand} and {help} are `brand`'s
        when given (keywords.yaml `brands:`), else the file's own."""
        lang = self.languages[language]
        values = self._values(lang, categories)
        template = lang.replies[channel][kind]
        if brand is not None:
            values.update(brand=brand.name, help=brand.help_contact or self.help_contact)
            template = brand.replies.get(language, {}).get(kind, template) if channel == "sms" else template
        return template.format(**values)

    def render_email(self, kind: str, language: str, categories: tuple[str, ...] = (),
                     brand: Brand | None = None) -> tuple[str, str]:
        """(subject, body) of the confirmation email of `kind` in `language`."""
        return tuple(self.render("email", f"{kind}.{part}", language, categories, brand) for part in EMAIL_PARTS)

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
