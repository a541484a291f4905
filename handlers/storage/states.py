"""A person's consent state: the one place that reads it and the one place that writes it.

State is {scope: "out" | "in"} per (channel, address, brand) (handlers/core/consent.py says what it
means; core/brands.py what a brand is: '' is the first, the only one without `brands:`); every change
of state is also an event row, written beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..core.brands import FIRST
from ..core.consent import Transition
from .bulk import in_batches, select_for
from .messages import event_row, record_event

INSERT_PUSH = ("INSERT INTO provider_pushes (provider, address, action, categories, event_id, created_at, "
               "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
INSERT_CONSENT = ("INSERT INTO consent (channel, address, brand, scope, status, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?)")
BRAND_SCOPE = "brand || ':' || scope"  # one key per row of a person's states of every brand (keys have no ':')


def read_state(conn, channel: str, address: str, brand: str = FIRST) -> dict[str, str]:
    """The committed state of one address for one brand ({} when it has none)."""
    return dict(conn.execute("SELECT scope, status FROM consent WHERE channel = ? AND address = ? AND brand = ?",
                             (channel, address, brand)).fetchall())


def read_brand_states(conn, channel: str, address: str) -> dict[str, dict[str, str]]:
    """{brand: state} of one address, for each brand it has a state for."""
    states: dict[str, dict[str, str]] = {}
    for brand, scope, status in conn.execute("SELECT brand, scope, status FROM consent WHERE channel = ? "
                                             "AND address = ?", (channel, address)):
        states.setdefault(brand, {})[scope] = status
    return states


def state_column(dialect) -> str:
    """read_brand_states as one column of a bigger SELECT (parameters: channel, address), read back with
    states_of: the webhook asks for the state in the statement that asks everything else."""
    return (f"(SELECT CAST({dialect.json_object_agg}({BRAND_SCOPE}, status) AS TEXT) FROM consent "
            "WHERE channel = ? AND address = ?)")


def states_of(column: str | None) -> dict[str, dict[str, str]]:
    """{brand: state} of a state_column (or erasure.erased_state_column)."""
    states: dict[str, dict[str, str]] = {}
    for key, status in (json.loads(column) if column else {}).items():
        brand, scope = key.split(":", 1)
        states.setdefault(brand, {})[scope] = status
    return states


def read_states(conn, channel: str, addresses: Iterable[str],
                table_rows: int | None = None, brand: str = FIRST) -> dict[str, dict[str, str]]:
    """The consent state for `brand` of each address that has one (looked up, or read whole when the
    table is small)."""
    states: dict[str, dict[str, str]] = {}
    sql = "SELECT address, scope, status FROM consent WHERE channel = ? AND brand = ? {keys}"
    if table_rows is None:
        rows = in_batches(conn, sql.format(keys="AND address IN ({marks})"), (channel, brand), addresses)
    else:
        rows = select_for(conn, sql, (channel, brand), "address", addresses, table_rows)
    for address, scope, status in rows:
        states.setdefault(address, {})[scope] = status
    return states


def write_states(conn, channel: str, final: dict[str, tuple[dict[str, str], str]], existing: Iterable[str],
                 brand: str = FIRST) -> None:
    """Replace the consent rows for `brand` of each address with its final (state, stamp), in sorted
    order. `existing`: the addresses that had rows before (the others have none to delete)."""
    deletes = sorted((channel, a, brand) for a in existing if a in final)
    if deletes:
        conn.executemany("DELETE FROM consent WHERE channel = ? AND address = ? AND brand = ?", deletes)
    rows = sorted((channel, address, brand, scope, status, stamp)
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
                      message_id: int | None, stamp: str, want_id: bool = True, brand: str = FIRST) -> int | None:
    """Write the event of one decision for `brand` and, if the state moved, the new state. Returns the
    event's id (None unless `want_id`: on PostgreSQL, reading it back costs a round trip, where without
    it the writes wait to go with COMMIT)."""
    event_id = record_event(conn, event_row(channel, address, transition, categories, source, message_id, stamp,
                                            brand=brand), want_id)
    if transition.after != transition.before:
        write_states(conn, channel, {address: (transition.after, stamp)}, (address,) if transition.before else (),
                     brand)
    return event_id
