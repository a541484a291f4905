"""Erasure (GDPR Art. 17): every row holding a person's address or words goes, and what stays is one
suppression entry per scope they had opted out of, keyed by a digest of the address under ERASURE_KEY
(core/personal_data.py says why). Also the lookups by digest that keep an erased person suppressed: the
suppression check, the webhook's state, imports, backfills and provider pulls read them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

from ..core.brands import FIRST
from ..core.personal_data import (
    Digester,
    ErasureKeyError,
    address_digest,
    checked_key,
    erased_state,
    kept_scopes,
    key_fingerprint,
)
from .bulk import in_batches
from .consent_webhooks import queue_withheld, withhold_address
from .database import lock_key
from .states import BRAND_SCOPE, read_brand_states
from .suppression import MANY

# The rows of one person, in the order they can go (a row before the rows it refers to); each
# statement's parameters are (channel, address), repeated as its ? marks ask.
_MINE = "SELECT id FROM {table} WHERE channel = ? AND address = ?"
_DELETIONS = (
    ("reviews", "DELETE FROM reviews WHERE message_id IN (" + _MINE.format(table="messages") + ") "
                "OR event_id IN (" + _MINE.format(table="events") + ")", 2),
    ("outbox", "DELETE FROM outbox WHERE (channel = ? AND address = ?) OR message_id IN ("
               + _MINE.format(table="messages") + ")", 2),
    # Pushes carry no channel: they are all email's.
    ("provider_pushes", "DELETE FROM provider_pushes WHERE (? = 'email' AND address = ?) OR event_id IN ("
                        + _MINE.format(table="events") + ")", 2),
    ("nonces", "DELETE FROM nonces WHERE EXISTS (SELECT 1 FROM messages m WHERE m.channel = ? AND m.address = ? "
               "AND m.provider = nonces.provider AND m.provider_id = nonces.provider_id)", 1),
    ("events", "DELETE FROM events WHERE channel = ? AND address = ?", 1),
    ("messages", "DELETE FROM messages WHERE channel = ? AND address = ?", 1),
    ("consent", "DELETE FROM consent WHERE channel = ? AND address = ?", 1),
    ("links", "DELETE FROM links WHERE channel = ? AND address = ?", 1),
)
ERASED_TABLES = (*(table for table, _, _ in _DELETIONS), "consent_webhooks")


def deleted(conn, sql: str, params: tuple) -> int:
    """Run a DELETE or UPDATE; how many rows it touched (RETURNING: both databases' cursors count alike)."""
    return len(conn.execute(sql + " RETURNING 1", params).fetchall())


def erased_state_column(dialect) -> str:
    """The erased state of one digest, every brand's, as a column of a bigger SELECT (parameters: channel,
    digest), read back with states.states_of: the webhook asks for it in the statement that asks everything
    else."""
    return (f"(SELECT CAST({dialect.json_object_agg}({BRAND_SCOPE}, CAST('out' AS TEXT)) AS TEXT) "
            "FROM erased_suppressions WHERE channel = ? AND digest = ?)")


def forget_erasure(conn, channel: str, digest: str, brand: str = FIRST) -> None:
    """An erased person acted again for `brand` (START, a page): from now on their own consent rows for
    it say it all."""
    conn.execute_later("DELETE FROM erased_suppressions WHERE channel = ? AND digest = ? AND brand = ?",
                       (channel, digest, brand))


def any_erased(conn, channel: str | None = None) -> bool:
    where, params = ("WHERE channel = ?", (channel,)) if channel else ("", ())
    return conn.execute(f"SELECT 1 FROM erased_suppressions {where} LIMIT 1", params).fetchone() is not None


def erased_states(conn, key: str | None, channel: str, addresses: Iterable[str],
                  brand: str | None = FIRST) -> dict[str, dict[str, str]]:
    """{address: its erased state for `brand`} for those of `addresses` that were erased and kept
    suppressed; for brand None, every brand's at once (only opt-outs are kept, so the union of the
    brands' scopes suppresses exactly where some brand does). Nothing is hashed when no one of the
    channel was erased (the common case: a check of a million costs nothing)."""
    if not key or not any_erased(conn, channel):
        return {}
    digest = Digester(key, channel)
    by_digest = {digest(address): address for address in addresses}
    sql = "SELECT digest, scope FROM erased_suppressions WHERE channel = ?"
    params: tuple = (channel,)
    if brand is not None:
        sql, params = sql + " AND brand = ?", (channel, brand)
    rows: Iterable[tuple]
    if len(by_digest) <= MANY:
        rows = in_batches(conn, sql + " AND digest IN ({marks})", params, by_digest)
    else:
        rows = (row for row in conn.execute(sql, params) if row[0] in by_digest)
    found: dict[str, dict[str, str]] = {}
    for digest_found, scope in rows:
        found.setdefault(by_digest[digest_found], {}).update(erased_state([scope]))
    return found


def erased_rows(conn, channel: str | None, brand: str | None = None) -> list[tuple[str, str, str, str]]:
    """(channel, digest, scope, since) of every entry kept after an erasure (by `brand`, as stored, if
    given), for the suppression export."""
    conditions = [(f"{column} = ?", value) for column, value in (("channel", channel or None), ("brand", brand))
                  if value is not None]
    where = ("WHERE " + " AND ".join(c for c, _ in conditions)) if conditions else ""
    return conn.execute(f"SELECT channel, digest, scope, since FROM erased_suppressions {where} "
                        "ORDER BY channel, digest, scope", tuple(v for _, v in conditions)).fetchall()


def key_problem(conn, key: str | None) -> str | None:
    """Why erased people would not be recognised with `key` (unset, or not the key of the erasures on
    record), else None."""
    row = conn.execute("SELECT key_fingerprint FROM erasures WHERE key_fingerprint <> ? LIMIT 1",
                       (key_fingerprint(key) if key else "",)).fetchone()
    if row is None:
        return None
    if not key:
        return "ERASURE_KEY is not set, but erased people are kept suppressed by it: set it back"
    return ("ERASURE_KEY is not the key earlier erasures were made with: the people they keep suppressed "
            "would be contactable again; set the old key back (README, Personal data)")


def erase(store, key: str | None, channel: str, address: str, actor: str) -> dict:
    """Remove every row holding `address` (canonical) or its words, keep one suppression entry per scope it
    had opted out of, record the erasure (never the address), and make the removed bytes unreachable in
    the database's files (Database.scrub). Returns {"removed": {table: rows}, "kept": [scope ...],
    "erasure_id", "physically_removed"}. ErasureKeyError without a usable ERASURE_KEY."""
    key = checked_key(key)
    # A channel sharing another's consent (rcs and sms) is one person's: both go, under the consent's channel.
    sharing, channel = store.sharing(channel), store.consent_channel(channel)
    digest, fingerprint = address_digest(key, channel, address), key_fingerprint(key)

    def work(conn) -> dict:
        store.db.lock_person(conn, lock_key(channel, address))
        problem = key_problem(conn, key)
        if problem:
            raise ErasureKeyError(problem)
        # Per brand: what each brand kept suppressed (brand, scope) -> since.
        since = {(b, scope): at for b, scope, at in conn.execute(
            "SELECT brand, scope, updated_at FROM consent WHERE channel = ? AND address = ?", (channel, address))}
        earlier: dict[str, dict[str, str]] = {}
        for b, scope, at in conn.execute("SELECT brand, scope, since FROM erased_suppressions WHERE channel = ? "
                                         "AND digest = ?", (channel, digest)):
            earlier.setdefault(b, {})[scope] = at
        rows = read_brand_states(conn, channel, address)
        kept_by_brand = {b: kept_scopes({**erased_state(list(earlier.get(b, {}))), **rows.get(b, {})})
                         for b in {*earlier, *rows}}
        kept = sorted({scope for scopes in kept_by_brand.values() for scope in scopes})
        # Consent webhooks already queued or sent keep their ids but lose the address (before the events they
        # name go); the receivers then hear that the person was erased, address withheld.
        withheld = withhold_address(conn, channel, address)
        removed = {table: sum(deleted(conn, sql, (each, address) * times) for each in sharing)
                   for table, sql, times in _DELETIONS}
        removed["consent_webhooks (address withheld)"] = withheld
        stamp = _now()
        conn.executemany("INSERT INTO erased_suppressions (channel, digest, brand, scope, since, erased_at) "
                         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, digest, brand, scope) DO NOTHING",
                         [(channel, digest, b, scope,
                           since.get((b, scope)) or earlier.get(b, {}).get(scope) or stamp, stamp)
                          for b, scopes in sorted(kept_by_brand.items()) for scope in scopes])
        erasure_id = conn.execute(
            "INSERT INTO erasures (erased_at, actor, channel, kept, removed, key_fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (stamp, actor, channel, json.dumps(kept), json.dumps(removed), fingerprint)).fetchone()[0]
        if kept:
            queue_withheld(conn, store.webhook_to, channel, f"erasure:{actor}", stamp)
        return {"erasure_id": erasure_id, "erased_at": stamp, "removed": removed, "kept": kept}

    result = store.write(work)
    result["physically_removed"] = store.db.scrub(ERASED_TABLES)
    return result


def erasures(store, limit: int = 100) -> list[dict]:
    """The latest erasures on record (when, who, channel, what stayed, what went), newest first."""
    rows = store.connection().execute(
        "SELECT id, erased_at, actor, channel, kept, removed FROM erasures ORDER BY id DESC LIMIT ?", (limit,))
    return [{"id": i, "erased_at": at, "actor": actor, "channel": channel, "kept": json.loads(kept),
             "removed": json.loads(removed)} for i, at, actor, channel, kept, removed in rows]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")  # as the store stamps its rows
