"""Operators of the dashboard (email, role, password hash) and the API keys of the sending tools: each
change written with its audit entry in one transaction; removing an operator or setting their password
ends their sessions in the same transaction."""

from __future__ import annotations

from .audit import Entry, append
from .store import Store, dict_rows, now


class OperatorError(ValueError):
    """An operator or API key that cannot be added, changed or removed as asked; the message says why."""


def end_sessions(conn, email: str) -> None:
    conn.execute("UPDATE admin_sessions SET ended_at = ? WHERE operator = ? AND ended_at IS NULL", (now(), email))


def add(store: Store, email: str, role: str, password_hash: str | None, entry: Entry) -> None:
    def work(conn):
        if conn.execute("SELECT 1 FROM operators WHERE email = ?", (email,)).fetchone():
            raise OperatorError(f"{email} is already an operator (flask set-password {email} gives a new password)")
        conn.execute("INSERT INTO operators (email, role, password_hash, created_at, password_changed_at) "
                     "VALUES (?, ?, ?, ?, ?)", (email, role, password_hash, now(), now() if password_hash else None))
        append(conn, entry)

    store.write(work)


def set_password(store: Store, email: str, password_hash: str, entry: Entry) -> None:
    def work(conn):
        changed = conn.execute("UPDATE operators SET password_hash = ?, password_changed_at = ? WHERE email = ? "
                               "RETURNING email", (password_hash, now(), email)).fetchone()
        if changed is None:
            raise OperatorError(f"{email} is not an operator")
        end_sessions(conn, email)
        append(conn, entry)

    store.write(work)


def rehash(store: Store, email: str, old_hash: str, new_hash: str) -> None:
    """Today's parameters for a password that was just checked (only if it was not changed meanwhile)."""
    store.write(lambda conn: conn.execute(
        "UPDATE operators SET password_hash = ? WHERE email = ? AND password_hash = ?", (new_hash, email, old_hash)))


def remove(store: Store, email: str, entry: Entry) -> None:
    def work(conn):
        if conn.execute("DELETE FROM operators WHERE email = ? RETURNING email", (email,)).fetchone() is None:
            raise OperatorError(f"{email} is not an operator")
        end_sessions(conn, email)
        append(conn, entry)

    store.write(work)


def sign_on(store: Store, email: str, role: str) -> None:
    """An operator who logged in by single sign-on, with the role their claims give today."""
    store.write(lambda conn: conn.execute(
        "INSERT INTO operators (email, role, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (email) DO UPDATE SET role = excluded.role", (email, role, now())))


def find(store: Store, email: str) -> dict | None:
    rows = dict_rows(store.connection().execute(
        "SELECT email, role, password_hash FROM operators WHERE email = ?", (email,)))
    return rows[0] if rows else None


def any_operator(store: Store) -> bool:
    return store.connection().execute("SELECT 1 FROM operators LIMIT 1").fetchone() is not None


def listing(store: Store) -> list[dict]:
    return dict_rows(store.connection().execute(
        "SELECT email, role, password_hash IS NOT NULL AS has_password, created_at, password_changed_at, "
        "(SELECT max(started_at) FROM admin_sessions WHERE operator = email) AS last_login "
        "FROM operators ORDER BY email"))


# API keys -------------------------------------------------------------------------------------------

def add_key(store: Store, name: str, scope: str, digest: str, entry: Entry) -> None:
    def work(conn):
        if conn.execute("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
            raise OperatorError(f"there is already a key named {name!r} (revoke it first, or choose another name)")
        conn.execute("INSERT INTO api_keys (name, scope, digest, created_at) VALUES (?, ?, ?, ?)",
                     (name, scope, digest, now()))
        append(conn, entry)

    store.write(work)


def revoke_key(store: Store, name: str, entry: Entry) -> None:
    def work(conn):
        if conn.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING id",
                        (now(), name)).fetchone() is None:
            raise OperatorError(f"no live key is named {name!r}")
        append(conn, entry)

    store.write(work)


def key_by_digest(store: Store, digest: str) -> dict | None:
    """{name, scope} of the live key with this digest."""
    rows = dict_rows(store.connection().execute(
        "SELECT name, scope FROM api_keys WHERE digest = ? AND revoked_at IS NULL", (digest,)))
    return rows[0] if rows else None


def keys(store: Store) -> list[dict]:
    return dict_rows(store.connection().execute(
        "SELECT name, scope, created_at, revoked_at FROM api_keys ORDER BY revoked_at IS NOT NULL, name, id"))
