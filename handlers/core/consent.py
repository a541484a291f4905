"""How a decision changes a person's consent, and which reply (if any) it owes. Pure functions.

State is a mapping scope -> "out" | "in", where scope is EVERYTHING or a category name. A missing
scope has no explicit choice. Suppression follows from it:
- everything is suppressed when EVERYTHING is "out";
- a category is suppressed when it is "out", or when EVERYTHING is "out" and the category was not
  explicitly opted back in ("START SURVEYS" after "STOP" lets surveys through, nothing else).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .decision import HELP, OPT_IN, OPT_OUT, Decision

EVERYTHING = "*"
OUT, IN = "out", "in"


@dataclass(frozen=True)
class Transition:
    action: str  # what was done: opt_out | opt_in | help | none
    before: Mapping[str, str]
    after: Mapping[str, str]
    changed: bool  # whether anything a sender sees (the suppression) changed
    reply_kind: str | None  # a key of replies.sms, or None for no reply
    categories: tuple[str, ...] = ()  # the categories the reply names (a START after category opt-outs: those)


def suppressed(state: Mapping[str, str], categories: tuple[str, ...]) -> dict[str, bool]:
    """{EVERYTHING: bool, category: bool ...}: what a sender may not send."""
    everything_out = state.get(EVERYTHING) == OUT
    result = {EVERYTHING: everything_out}
    for category in categories:
        mark = state.get(category)
        result[category] = mark == OUT or (everything_out and mark != IN)
    return result


def apply(state: Mapping[str, str], decision: Decision, categories: tuple[str, ...],
          provider_replied: bool = False) -> Transition:
    """The new state after `decision`, and the reply it owes.

    One confirmation per change (CTIA): a STOP from someone already opted out of everything changes
    nothing and gets no reply. Help is always answered. When the provider has already answered
    (Twilio Advanced Opt-Out), no reply at all.

    After opting out of some categories only (keywords.yaml, "start_if_stopped"; README, "What START,
    UNSTOP and YES do"): a bare START or UNSTOP brings back what was stopped, and its reply names those
    categories; a bare YES changes nothing, as it most likely answers one of the texts they still get.
    """
    before = dict(state)
    action = decision.action
    if action == OPT_IN and decision.only_if_opted_out and before.get(EVERYTHING) != OUT:
        action = "none"  # "YES" from someone still receiving texts answers one of them

    after, named = dict(before), decision.categories
    if action == OPT_OUT and not decision.categories:
        after = {EVERYTHING: OUT}
    elif action == OPT_OUT:
        after.update({c: OUT for c in decision.categories})
    elif action == OPT_IN and not decision.categories:
        after = {}
        if before.get(EVERYTHING) != OUT:  # only some categories were stopped: those come back
            named = tuple(c for c in categories if before.get(c) == OUT)
    elif action == OPT_IN:
        after.update({c: IN for c in decision.categories})

    changed = suppressed(before, categories) != suppressed(after, categories)
    reply_kind = None
    if action == HELP:
        reply_kind = "help"
    elif changed and action in (OPT_OUT, OPT_IN):
        verb = "stopped" if action == OPT_OUT else "started"
        reply_kind = f"{verb}_{'categories' if named else 'all'}"
    if provider_replied:
        reply_kind = None
    return Transition(action, before, after, changed, reply_kind, named)


def unchanged(state: Mapping[str, str], action: str, reply_kind: str | None = None) -> Transition:
    """A decision that leaves the state as it is (an unsure message asked a question first)."""
    return Transition(action, dict(state), dict(state), False, reply_kind)
