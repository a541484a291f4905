"""Access (GDPR Art. 15): everything kept about one address, as one JSON-ready dict, and nothing of anyone
else: every message (time, text, decision), every consent event, the current state per category, the
confirmations sent, the providers pushed to, and what is kept, why and for how long."""

from __future__ import annotations

import json

from ..core.brands import FIRST
from ..core.consent import EVERYTHING, suppressed
from ..core.personal_data import what_is_kept
from .states import read_brand_states
from .store import Store, dict_rows, now


def person_export(store: Store, channel: str, address: str, categories: tuple[str, ...], retention_days: int) -> dict:
    """What the service holds about `address` (canonical) on `channel`."""
    conn = store.connection()
    # The consent (and its events) of a channel sharing another's is that one's (rcs: SMS'); the messages
    # are those of every channel sharing it.
    person, sharing = (store.consent_channel(channel), address), store.sharing(channel)
    messages = dict_rows(conn.execute(
        "SELECT received_at, channel, body AS text, action AS decision, categories, rule, matched, language, "
        "reply, provider, provider_id AS provider_message_id FROM messages "
        f"WHERE channel IN ({', '.join('?' * len(sharing))}) AND address = ? ORDER BY id", (*sharing, address)))
    events = dict_rows(conn.execute(
        "SELECT created_at AS at, action, categories, changed, state_after, source FROM events "
        "WHERE channel = ? AND address = ? ORDER BY id", person))
    confirmations = dict_rows(conn.execute(
        "SELECT created_at, subject, sent_at, failed_at FROM outbox WHERE channel = ? AND address = ? ORDER BY id",
        person))
    pushes = dict_rows(conn.execute(  # the providers that send email for the business: email's only
        "SELECT provider, action, categories, created_at, sent_at, failed_at FROM provider_pushes "
        "WHERE address = ? ORDER BY id", (address,))) if channel == "email" else []
    for row in (*messages, *events, *pushes):
        row["categories"] = json.loads(row["categories"])
    for row in events:
        row["state_after"] = json.loads(row["state_after"])
        row["changed"] = bool(row["changed"])
    state = store.state(channel, address)
    blocked = suppressed(state, categories)
    return {
        "channel": channel,
        "address": address,
        "exported_at": now(),
        "state": {("all" if scope == EVERYTHING else scope): ("suppressed" if value else "receiving")
                  for scope, value in blocked.items()},
        "messages": messages,
        "consent_events": events,
        "confirmations_sent": confirmations,
        "providers_pushed_to": pushes,
        "kept": what_is_kept(retention_days),
        **by_brand(conn, channel, address, categories),
    }


def by_brand(conn, channel: str, address: str, categories: tuple[str, ...]) -> dict:
    """With brands other than the first on record (keywords.yaml brands:): "brands", each one's state as
    "state" says it ("" is the first brand's, the one "state" shows). Nothing otherwise."""
    states = read_brand_states(conn, channel, address)
    if not set(states) - {FIRST}:
        return {}
    return {"brands": {brand: {("all" if scope == EVERYTHING else scope): ("suppressed" if value else "receiving")
                               for scope, value in suppressed(state, categories).items()}
                       for brand, state in sorted(states.items())}}
