"""One inbound message, end to end after its adapter: classify, decide against the stored state,
record, and word the reply. The route only has to send back what this returns."""

from __future__ import annotations

from dataclasses import replace

from . import consent
from .classifier import Decision, classify
from .inbound import Inbound
from .keywords import KeywordTable
from .store import Outcome, Recorded, Store


def handle(inbound: Inbound, table: KeywordTable, store: Store) -> Recorded:
    """Record `inbound` and its consequences in one committed transaction; return what to answer."""
    decision = reconcile(classify(inbound.text, table), inbound.provider_action)

    def decide(state: dict[str, str], known_language: str | None) -> Outcome:
        chosen = replace(decision, language=reply_language(decision, table, known_language, inbound.country))
        transition = consent.apply(state, chosen, table.categories,
                                   provider_replied=inbound.provider_action is not None)
        if transition.reply_kind is None:
            return Outcome(chosen, transition, None)
        categories = chosen.categories if transition.reply_kind != "help" else table.categories
        return Outcome(chosen, transition, table.render(inbound.channel, transition.reply_kind, chosen.language,
                                                        categories))

    return store.record_inbound(inbound, decide)


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
