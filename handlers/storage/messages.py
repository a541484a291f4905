"""An inbound message's row and an event's row: the one place each is made and written (the webhook's
write in handlers/storage/store.py, a backfill, an import, an operator's review)."""

from __future__ import annotations

import json

from ..core.brands import FIRST
from ..core.consent import Transition
from ..core.decision import Decision

MESSAGE_COLUMNS = ("id", "channel", "provider", "provider_id", "address", "recipient", "body", "params",
                   "received_at", "action", "categories", "language", "language_sure", "rule", "matched",
                   "flagged", "reply", "stage", "confidence", "brand")
INSERT_MESSAGE = (f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(MESSAGE_COLUMNS))})")
EVENT_COLUMNS = ("channel", "address", "action", "categories", "changed", "state_after", "source", "message_id",
                 "created_at", "brand")
INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"


def message_row(message_id: int, channel: str, provider: str, provider_id: str, address: str,
                recipient: str | None, body: str, params: str, received_at: str, action: str, categories: str,
                decision: Decision, reply: str | None = None, rule: str | None = None, brand: str = FIRST) -> tuple:
    """A messages row (MESSAGE_COLUMNS): `params` the provider's parameters and `categories` the decision's,
    as JSON; `action` what was done. `rule` when the decision was not acted on (a backfill's message older
    than a recorded decision): then no stage of understanding decided it."""
    if rule is None:
        rule, stage, confidence = decision.rule, decision.stage, decision.confidence
    else:
        stage, confidence = "table", None
    return (message_id, channel, provider, provider_id, address, recipient, body, params, received_at, action,
            categories, decision.language, int(len(decision.languages) == 1), rule, decision.matched,
            int(decision.flagged), reply, stage, confidence, brand)


def event_row(channel: str, address: str, transition: Transition, categories: str, source: str,
              message_id: int | None, stamp: str, after: str | None = None, brand: str = FIRST) -> tuple:
    """An events row (EVENT_COLUMNS) of one transition; `after`: its state as JSON, if already made;
    `brand`: the brand it changed, as stored (core/brands.py)."""
    return (channel, address, transition.action, categories, int(transition.changed),
            after or json.dumps(transition.after, sort_keys=True), source, message_id, stamp, brand)


def record_message(conn, row: tuple) -> None:
    """Write one message row with the write's next statement (it answers nothing)."""
    conn.execute_later(INSERT_MESSAGE, row)


def record_messages(conn, rows: list[tuple]) -> None:
    conn.executemany(INSERT_MESSAGE, rows)


def record_event(conn, row: tuple, want_id: bool = True) -> int | None:
    """Write one event row; its id, unless not `want_id` (on PostgreSQL, reading it back costs a round
    trip, where without it the write waits to go with COMMIT)."""
    if want_id:
        return conn.execute(INSERT_EVENT + " RETURNING id", row).fetchone()[0]
    conn.execute_later(INSERT_EVENT, row)
    return None


def record_events(conn, rows: list[tuple]) -> None:
    conn.executemany(INSERT_EVENT, rows)


def answered_on(store, message_id: int) -> tuple[str | None, str | None]:
    """(the number the person texted, the Twilio account it belongs to) of a recorded SMS: where a text
    back to them comes from. (None, None) for a message no longer held."""
    row = store.connection().execute("SELECT recipient, params FROM messages WHERE id = ?", (message_id,)).fetchone()
    return (row[0], json.loads(row[1] or "{}").get("AccountSid")) if row else (None, None)


def brand_of(store, message_id: int | None) -> str:
    """The brand (as stored) a recorded message was for: '' (the first brand) for one no longer held."""
    row = store.connection().execute("SELECT brand FROM messages WHERE id = ?", (message_id,)).fetchone()
    return row[0] if row else ""
