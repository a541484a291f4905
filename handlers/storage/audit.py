"""The audit log: who did what, when, from which client. Rows are only ever appended; no code path
updates or deletes them (tests/test_team.py checks the code for such SQL).

Other code records an entry with `record(store, Entry(actor, action, detail, client))`, or `append(conn,
entry)` inside a write that should commit with it. handlers/web/access.py's `audit(action, detail)` fills
in the actor and client of the current request.
"""

from __future__ import annotations

from dataclasses import dataclass

from .store import Store, dict_rows, now

# What the service records (an action is free text, but these are the ones written today).
ACTIONS = ("login", "login_failed", "logout", "review", "import", "export", "erasure",
           "operator_added", "operator_removed", "password_set", "api_key_added", "api_key_revoked")


@dataclass(frozen=True)
class Entry:
    actor: str  # an operator's email, key:NAME, the built-in admin, cli:USER
    action: str
    detail: str  # what, in words; never a person's address or words (their masked form at most)
    client: str | None = None  # the client's address (request.remote_addr, as TRUSTED_PROXIES allows)


def append(conn, entry: Entry) -> None:
    """Inside a write: add `entry`, committed with the rest of the transaction."""
    conn.execute("INSERT INTO audit_log (at, actor, action, detail, client) VALUES (?, ?, ?, ?, ?)",
                 (now(), entry.actor, entry.action, entry.detail, entry.client))


def record(store: Store, entry: Entry) -> None:
    """Add `entry` in a transaction of its own."""
    store.write(lambda conn: append(conn, entry))


def entries(store: Store, since: str | None = None, limit: int | None = None) -> list[dict]:
    """Entries at or after `since` (an ISO timestamp or date), newest first; at most `limit` of them."""
    sql = "SELECT id, at, actor, action, detail, client FROM audit_log"
    params: tuple = ()
    if since:
        sql, params = sql + " WHERE at >= ?", (since,)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return dict_rows(store.connection().execute(sql, params))
