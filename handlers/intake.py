"""One inbound message, end to end after its adapter: classify, decide against the stored state,
record, and word the reply. The route only has to send back what this returns."""

from __future__ import annotations

from dataclasses import replace

from . import consent
from .classifier import Decision, classify
from .inbound import Inbound
from .keywords import KeywordTable
from .store import Recorded, Store


def handle(inbound: Inbound, table: KeywordTable, store: Store) -> Recorded:
    """Record `inbound` and its consequences in one committed transaction; return what to answer."""
    decision = reconcile(classify(inbound.text, table), inbound.provider_action)
    language = decision.language or table.default_language

    def decide(state: dict[str, str]):
        transition = consent.apply(state, decision, table.categories,
                                   provider_replied=inbound.provider_action is not None)
        if transition.reply_kind is None:
            return transition, None
        categories = decision.categories if transition.reply_kind != "help" else table.categories
        return transition, table.render(inbound.channel, transition.reply_kind, language, categories)

    return store.record_inbound(inbound, decision, decide)


def reconcile(decision: Decision, provider_action: str | None) -> Decision:
    """When the provider already acted (Twilio Advanced Opt-Out blocks the whole number on its own
    keywords), record what it did, even where our table reads the message differently."""
    if provider_action is None:
        return decision
    if decision.action == provider_action and not decision.categories:
        return decision
    return replace(decision, action=provider_action, rule="provider", categories=(),
                   only_if_opted_out=False)
