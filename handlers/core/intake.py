"""One inbound message, end to end after its adapter: classify, decide against the stored state,
record, and word the reply. The route only has to send back what this returns.

The store is handed in (anything with `record_inbound`, see Recorder): the core decides, the store
writes, and neither imports the other's layer upward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import timedelta
from typing import Protocol

from . import consent
from .addresses import PHONE_CHANNELS
from .classifier import classify
from .consent import Transition
from .decision import NONE, OPT_IN, OPT_OUT, REFUSED, Decision
from .inbound import Inbound
from .keywords import REPLY_KINDS, KeywordTable
from .text import bare_subject


@dataclass(frozen=True)
class Outcome:
    """What a Decide callback returns: the decision, the change of state, and what it owes the person."""

    decision: Decision
    transition: Transition
    reply: str | None  # the SMS reply to answer with
    mail: tuple[str, str] | None = None  # (subject, body) of a confirmation email to queue
    # The same decision for the person's other brands it reaches (STOPALL, `opt_out_scope: everything`):
    # (stored brand, its transition) each; the store writes each beside `transition`, the brand's own.
    also: tuple[tuple[str, Transition], ...] = ()
    brand_keys: Mapping[str, str | None] = dataclass_field(default_factory=dict)  # stored brand -> its key, as told


@dataclass(frozen=True)
class Recorded:
    """What the store did with one inbound message."""

    duplicate: bool  # the provider sent this message before; nothing was changed
    message_id: int | None
    transition: Transition | None
    reply: str | None
    rule: str | None = None  # the classifier's rule that decided (None for a duplicate)


class Decide(Protocol):
    """Pure: the outcome of the message given the person's committed state for the message's brand
    (Inbound.brand), known language, whether they were asked an ASK_WINDOW ago or less (a message of
    theirs recorded as ASKED), and their state for each other brand they have one for.

    The store calls it inside the write transaction, again if the state moved since the last call.
    """

    def __call__(self, state: dict[str, str], known_language: str | None, asked_recently: bool,
                 other_brands: Mapping[str, dict[str, str]]) -> Outcome: ...


class Recorder(Protocol):
    """The store's side of intake (handlers.storage.store.Store)."""

    def record_inbound(self, inbound: Inbound, decide: Decide) -> Recorded: ...


EMAIL_CONFIRMATIONS = REPLY_KINDS["email"]
ASKED = "asked"  # the action recorded for an unsure message that was asked a question (`ambiguous: ask`)
ASK_WINDOW = timedelta(days=1)  # a person is asked at most once in this time
WEB = "web"  # the provider of choices made on the preference page and by one-click unsubscribe
UNVERIFIED = "opt_in_from_unverified_sender"  # the rule of an email opt-in refused: SPF and DKIM did not pass
# At most one confirmation email per address in this time, whatever happens: no mail loops.
CONFIRMATION_INTERVAL = timedelta(days=1)


def confirms(complained: bool, confirmed_recently: bool) -> bool:
    """Whether an owed confirmation email is queued, given whether the person ever reported our mail as
    spam and whether a confirmation was queued for them within CONFIRMATION_INTERVAL (the store reads
    both, in the write that records the message)."""
    # Someone who reported our mail as spam is never sent a confirmation, whatever they do later.
    return not complained and not confirmed_recently


def handle(inbound: Inbound, table: KeywordTable, store: Recorder, decision: Decision | None = None) -> Recorded:
    """Record `inbound` and its consequences in one committed transaction; return what to answer.

    `decision` is given when the person chose on a page rather than in words. An SMS reply is
    answered in the response (Recorded.reply); an email confirmation is queued in the same
    transaction and sent by the mail worker after commit.
    """
    decision = decision or read(inbound, table)
    inbound, unknown_sender = with_brand(inbound, table)
    brand = table.brands.by_stored(inbound.brand)

    def decide(state: dict[str, str], known_language: str | None, asked_recently: bool,
               other_brands: Mapping[str, dict[str, str]]) -> Outcome:
        chosen = replace(decision, language=reply_language(decision, table, known_language, inbound.country))
        replied = inbound.provider_action is not None
        transition = consent.apply(state, chosen, table.categories, provider_replied=replied)
        also = tuple((other, consent.apply(other_brands.get(other, {}), chosen, table.categories, replied))
                     for other in table.brands.reach(chosen, inbound.brand) if other != inbound.brand)
        keys = {b: table.brands.key_of(b) for b in (inbound.brand, *(other for other, _ in also))}
        kind = transition.reply_kind or next((t.reply_kind for _, t in also if t.reply_kind), None)
        unsure = is_unsure(chosen, inbound, table)
        if unknown_sender:
            chosen = replace(chosen, flagged=True)  # recorded for the first brand: a person should check
        replies = table.languages[chosen.language].replies
        if chosen.rule == UNVERIFIED and "start_unverified.subject" in replies["email"]:
            # Told why nothing changed: their mail server did not prove the address is theirs.
            return Outcome(chosen, transition, None, table.render_email("start_unverified", chosen.language, (), brand),
                           also=also, brand_keys=keys)
        if kind is None or (inbound.channel in PHONE_CHANNELS and inbound.provider == WEB):
            # A page shows its own result; no SMS answers it.
            return Outcome(chosen, transition, None, also=also, brand_keys=keys)
        if unsure:
            # Nothing changes until they answer; the message stays flagged for review.
            if asked_recently:
                return Outcome(chosen, consent.unchanged(state, NONE), None)
            return Outcome(chosen, consent.unchanged(state, ASKED, "ask"),
                           table.render("sms", "ask", chosen.language, brand=brand))
        categories = transition.categories if kind != "help" else table.categories
        if inbound.channel == "email":
            mail = (table.render_email(kind, chosen.language, categories, brand) if kind in EMAIL_CONFIRMATIONS
                    else None)
            return Outcome(chosen, transition, None, mail, also, keys)
        # WhatsApp and RCS are answered with the SMS replies, on their own channel (Twilio sends TwiML's
        # <Message> back the way the message came; on WhatsApp, inside the 24 hours it opened).
        return Outcome(chosen, transition, table.render("sms", kind, chosen.language, categories, brand),
                       also=also, brand_keys=keys)

    return store.record_inbound(inbound, decide)


def with_brand(inbound: Inbound, table: KeywordTable) -> tuple[Inbound, bool]:
    """`inbound` with its brand (as stored), and whether it went to no known sender of any brand: a
    message to an unknown number or address is the first brand's, flagged for review. A brand already
    given (the preference page's link names one) stands; so does a message that names no sender at
    all (a provider's event about an address), which is the first brand's, unflagged."""
    if inbound.brand is not None:
        return inbound, False
    stored, known = table.brands.resolve(inbound.channel, inbound.recipient, inbound.service)
    named_a_sender = bool(inbound.recipient or inbound.service)
    return replace(inbound, brand=stored), named_a_sender and not known


def is_unsure(decision: Decision, inbound: Inbound, table: KeywordTable) -> bool:
    """Whether the person is asked before an opt-out: the operator chose `ambiguous: ask` and the
    opt-out is flagged for review. Phone channels only: an email reply keeps `opt_out` (README)."""
    return (table.ambiguous == "ask" and inbound.channel in PHONE_CHANNELS and decision.action == OPT_OUT
            and decision.flagged)


def read(inbound: Inbound, table: KeywordTable) -> Decision:
    """What the message asks for, before looking at the person's state."""
    if inbound.ignored:
        return Decision(NONE, "ignored", matched=inbound.ignored)
    if inbound.button_payload or inbound.button_text:
        # A tapped button means what keywords.yaml's `buttons` says, before its words are read.
        pressed = table.channel_policy.button(inbound.button_payload, inbound.button_text)
        if pressed:
            return Decision(pressed.action, "button", pressed.categories, matched=pressed.written)
    decision = reconcile(classify(inbound.text, table, inbound.country), inbound.provider_action)
    if inbound.channel != "email":
        return decision
    if decision.action == NONE:
        # Mail clients answer a mailto: List-Unsubscribe with a subject that is only the keyword.
        subject = classify(bare_subject(inbound.subject), table)
        if subject.action == OPT_OUT and subject.rule in ("keyword", "keyword_with_categories", "keyword_typo"):
            decision = replace(subject, rule="subject_keyword", flagged=decision.flagged or subject.flagged)
    if decision.action == OPT_IN and not inbound.sender_verified:
        # Anyone can forge a From address; an opt-in must come from the address's own domain. Refused,
        # and flagged: a forged opt-in is someone working against the person, worth a look.
        decision = replace(decision, action=REFUSED, rule=UNVERIFIED, flagged=True)
    return decision


def reply_language(decision: Decision, table: KeywordTable, known_language: str | None,
                   country: str | None) -> str:
    """The person's language: the matched words' own if they have one; for words shared by several
    languages (STOP, INFO), the one their earlier messages showed, else their country's."""
    candidates = decision.languages
    if not candidates:
        return known_language or table.language_of_country(country) or table.default_language
    for hint in (known_language, table.language_of_country(country)):
        if hint in candidates:
            return hint
    return candidates[0]


def reconcile(decision: Decision, provider_action: str | None) -> Decision:
    """When the provider already acted (Twilio Advanced Opt-Out blocks the whole number on its own
    keywords), record what it did, even where our table reads the message differently."""
    if provider_action is None:
        return decision
    if decision.action == provider_action and not decision.categories:
        return decision
    return replace(decision, action=provider_action, rule="provider", categories=(),
                   only_if_opted_out=False)


def correction_message(table: KeywordTable, channel: str, transition: consent.Transition,
                       language: str | None) -> tuple[str, str] | None:
    """The one message a reviewer may send after correcting a decision: what the person is subscribed to
    now, in the words of keywords.yaml's confirmations and in their language; (subject, body), the
    subject empty for an SMS. None when the correction changed nothing they would be told."""
    kind = transition.reply_kind
    if kind is None or kind == "help":
        return None
    language = language if language in table.languages else table.default_language
    if channel == "email":
        return table.render_email(kind, language, transition.categories)
    return "", table.render("sms", kind, language, transition.categories)  # WhatsApp and RCS: the SMS texts
