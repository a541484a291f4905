"""A person's consent state: the one place that reads it and the one place that writes it.

State is {scope: "out" | "in"} per (channel, address) (handlers/core/consent.py says what it means);
every change of state is also an event row, written beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..core.consent import Transition
from .bulk import in_batches, select_for
from .messages import event_row, record_event

INSERT_PUSH = ("INSERT INTO provider_pushes (provider, address, action, categories, event_id, created_at, "
               "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
INSERT_CONSENT = "INSERT INTO consent (channel, address, scope, status, updated_at) VALUES (?, ?, ?, ?, ?)"


def read_state(conn, channel: str, address: str) -> dict[str, str]:
    """The committed state of one address ({} when it has none)."""
    return dict(conn.execute("SELECT scope, status FROM consent WHERE channel = ? AND address = ?",
                             (channel, address)).fetchall())


def state_column(dialect) -> str:
    """read_state as one column of a bigger SELECT (parameters: channel, address), read back with
    state_of: the webhook asks for the state in the statement that asks everything else."""
    return (f"(SELECT CAST({dialect.json_object_agg}(scope, status) AS TEXT) FROM consent "
            "WHERE channel = ? AND address = ?)")


def state_of(column: str | None) -> dict[str, str]:
    return json.loads(column) if column else {}


def read_states(conn, channel: str, addresses: Iterable[str],
                table_rows: int | None = None) -> dict[str, dict[str, str]]:
    """The consent state of each address that has one (looked up, or read whole when the table is small)."""
    states: dict[str, dict[str, str]] = {}
    sql = "SELECT address, scope, status FROM consent WHERE channel = ? {keys}"
    if table_rows is None:
        rows = in_batches(conn, sql.format(keys="AND address IN ({marks})"), (channel,), addresses)
    else:
        rows = select_for(conn, sql, (channel,), "address", addresses, table_rows)
    for address, scope, status in rows:
        states.setdefault(address, {})[scope] = status
    return states


def write_states(conn, channel: str, final: dict[str, tuple[dict[str, str], str]], existing: Iterable[str]) -> None:
    """Replace the consent rows of each address with its final (state, stamp), in sorted order.
    `existing`: the addresses that had rows before (the others have none to delete)."""
    deletes = sorted((channel, a) for a in existing if a in final)
    if deletes:
        conn.executemany("DELETE FROM consent WHERE channel = ? AND address = ?", deletes)
    rows = sorted((channel, address, scope, status, stamp)
                  for address, (state, stamp) in final.items() for scope, status in state.items())
    conn.executemany(INSERT_CONSENT, rows)


def queue_pushes(conn, push_to: Iterable[str], synced_from: str | None, changes: Iterable[tuple]) -> None:
    """Queue email consent changes for the providers that send for the business, in the caller's
    transaction: each change (address, action, categories JSON, event id or None, stamp) for every
    provider in `push_to` but `synced_from` (a provider's own list already holds what it told us)."""
    providers = [p for p in push_to if p != synced_from]
    if providers:
        conn.executemany(INSERT_PUSH, [(provider, address, action, categories, event_id, stamp, stamp)
                                       for address, action, categories, event_id, stamp in changes
                                       for provider in providers])


def record_transition(conn, channel: str, address: str, transition: Transition, categories: str, source: str,
                      message_id: int | None, stamp: str, want_id: bool = True) -> int | None:
    """Write the event of one decision and, if the state moved, the new state. Returns the event's id
    (None unless `want_id`: on PostgreSQL, reading it back costs a round trip, where without it the
    writes wait to go with COMMIT)."""
    event_id = record_event(conn, event_row(channel, address, transition, categories, source, message_id, stamp),
                            want_id)
    if transition.after != transition.before:
        write_states(conn, channel, {address: (transition.after, stamp)}, (address,) if transition.before else ())
    return event_id
