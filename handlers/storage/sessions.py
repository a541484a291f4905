"""The dashboard's sessions: opened at login, looked up on every request, ended at logout."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from .store import Store, now


def start(store: Store, token_digest: str) -> str:
    """A new session's id."""
    session_id = secrets.token_urlsafe(32)
    store.write(lambda conn: conn.execute(
        "INSERT INTO admin_sessions (id, token_digest, started_at) VALUES (?, ?, ?)",
        (session_id, token_digest, now())))
    return session_id


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
