"""The dashboard's sessions: opened at login, looked up on every request, ended at logout (and, for a named
operator, when they are removed or their password is set: handlers/storage/operators.py)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from .store import Store, now


def start(store: Store, token_digest: str, operator: str | None = None) -> str:
    """A new session's id: the built-in admin's (operator None) or a named operator's."""
    session_id = secrets.token_urlsafe(32)
    store.write(lambda conn: conn.execute(
        "INSERT INTO admin_sessions (id, token_digest, started_at, operator) VALUES (?, ?, ?, ?)",
        (session_id, token_digest, now(), operator)))
    return session_id


def holder(store: Store, session_id: str, token_digest: str | None, lifetime: timedelta) -> dict | None:
    """{"operator": email or None (the built-in admin), "role"} of a live session younger than `lifetime`:
    the built-in admin's only while opened with this token, a named operator's only while they are one."""
    since = (datetime.now(timezone.utc) - lifetime).isoformat(timespec="microseconds")
    row = store.connection().execute(
        "SELECT s.operator, o.role, s.token_digest FROM admin_sessions s LEFT JOIN operators o ON o.email = s.operator "
        "WHERE s.id = ? AND s.ended_at IS NULL AND s.started_at > ?", (session_id, since)).fetchone()
    if row is None:
        return None
    operator, role, digest = row
    if operator is None:
        return {"operator": None, "role": "admin"} if token_digest and digest == token_digest else None
    return {"operator": operator, "role": role} if role else None


def server_secret(store: Store, name: str) -> str:
    """A random secret kept in the database, made on first use: the same for every process and node."""
    conn = store.connection()
    row = conn.execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()
    if row:
        return row[0]
    store.write(lambda conn: conn.execute(
        "INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (name, secrets.token_urlsafe(32), now())))
    return store.connection().execute("SELECT value FROM server_secrets WHERE name = ?", (name,)).fetchone()[0]


def live(store: Store, session_id: str, token_digest: str, lifetime: timedelta) -> bool:
    """Whether the session exists, was opened with this token, has not ended and is younger than `lifetime`."""
    since = (datetime.now(timezone.utc) - lifetime).isoformat(timespec="microseconds")
    row = store.connection().execute(
        "SELECT 1 FROM admin_sessions WHERE id = ? AND token_digest = ? AND ended_at IS NULL AND started_at > ?",
        (session_id, token_digest, since)).fetchone()
    return row is not None


def end(store: Store, session_id: str) -> None:
    store.write(lambda conn: conn.execute(
        "UPDATE admin_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (now(), session_id)))
