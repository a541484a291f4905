"""Consent webhooks queued: each change of consent written to table consent_webhooks in the
transaction that makes it (the webhook's, a review's, an import's; an erasure's through
queue_withheld). Claiming, retrying, listing and replaying them is handlers/storage/deliveries.py's;
the body and signature are handlers/core/consent_webhooks.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

from ..core.consent_webhooks import SUPPRESSED, ConsentChange, new_id, payload
from .database import lock_key

TABLE = "consent_webhooks"
INSERT = (f"INSERT INTO {TABLE} (url, webhook_id, person, payload, event_id, created_at, next_attempt_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)")


def withheld_person(channel: str) -> str:
    """The person key of rows whose address was withheld: they keep their order among themselves."""
    return f"{channel}:(withheld)"


def queue(conn, urls: Iterable[str], changes: Iterable[ConsentChange], webhook_ids: dict | None = None) -> int:
    """Queue each change for every receiver in `urls`, in the caller's transaction (the one that makes
    the change). One webhook id per change, the same for every receiver; `webhook_ids` maps an event id
    to the id it was first sent with (a replay). Returns the rows queued."""
    urls = tuple(urls)
    if not urls:
        return 0
    rows, stamp = [], datetime.now(timezone.utc).isoformat(timespec="microseconds")
    for change in changes:
        webhook_id = (webhook_ids or {}).get(change.event_id) or new_id()
        person = lock_key(change.channel, change.address) if change.address else withheld_person(change.channel)
        body = payload(change).decode()
        rows += [(url, webhook_id, person, body, change.event_id, stamp, stamp) for url in urls]
    conn.executemany(INSERT, rows)
    return len(rows)


def queue_withheld(conn, urls: Iterable[str], channel: str, recorded_by: str, stamp: str | None = None) -> int:
    """For an erasure (issue 24), in its transaction: first withhold the person's address from every row
    queued or sent before (call withhold_address), then this: one "suppressed, address withheld" change
    for every receiver. Returns the rows queued."""
    change = ConsentChange(channel, None, SUPPRESSED, (), stamp or datetime.now(timezone.utc).isoformat(
        timespec="microseconds"), recorded_by)
    return queue(conn, urls, [change])


def withhold_address(conn, channel: str, address: str) -> int:
    """Take `address` out of every row of this table (its body's address becomes null, address_withheld
    true), in the caller's transaction: an erasure leaves no copy here. Undelivered rows still go, with
    their ids, without the address. Returns the rows changed."""
    person = lock_key(channel, address)
    rows = conn.execute(f"SELECT id, payload FROM {TABLE} WHERE person = ?", (person,)).fetchall()
    changed = []
    for row_id, body in rows:
        document = json.loads(body)
        document["data"].update(address=None, address_withheld=True)
        changed.append((withheld_person(channel), json.dumps(document, ensure_ascii=False, separators=(",", ":")),
                        row_id))
    # The event it told of goes with the erasure: the row keeps its id and body only.
    conn.executemany(f"UPDATE {TABLE} SET person = ?, payload = ?, event_id = NULL WHERE id = ?", changed)
    return len(changed)
