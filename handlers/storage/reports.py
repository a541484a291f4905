"""Read-only SQL for the dashboard: counts per day, recent messages, the review queue, an audit trail.

Every function reads through the store's connection for this thread and writes nothing; writes go
through handlers/storage/store.py (Store.review).
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from .store import Store, dict_rows

# The chart's series. "ignored" is every message that changed nothing: no match, and email opt-ins
# refused for want of SPF or DKIM.
SERIES = ("opt_out", "opt_in", "help", "ignored")
ACTIONS = ("opt_out", "opt_in", "help", "asked", "none", "refused")


def _rows(store: Store, sql: str, params: tuple = ()) -> list[dict]:
    return dict_rows(store.connection().execute(sql, params))


def days_until(today: date, count: int = 30) -> list[str]:
    """The `count` ISO days ending with `today`, oldest first."""
    return [(today - timedelta(days=n)).isoformat() for n in range(count - 1, -1, -1)]


def daily_counts(store: Store, days: list[str]) -> dict[tuple[str, str, str], int]:
    """{(day, channel, series): messages received that UTC day} for the given days."""
    rows = store.connection().execute(
        "SELECT substr(received_at, 1, 10) AS day, channel, "
        "CASE WHEN action IN ('opt_out', 'opt_in', 'help') THEN action ELSE 'ignored' END AS series, count(*) "
        "FROM messages WHERE received_at >= ? AND received_at < ? GROUP BY day, channel, series",
        (days[0], (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()))
    return {(day, channel, series): n for day, channel, series, n in rows}


def opt_outs_by(store: Store, days: list[str], column: str) -> dict[str, int]:
    """{rule or language: opt-outs received in those days}, most first; column is "rule" or "language"."""
    if column not in ("rule", "language"):
        raise ValueError(f"opt-outs are counted by rule or language, not {column!r}")
    rows = store.connection().execute(
        f"SELECT {column}, count(*) AS n FROM messages WHERE action = 'opt_out' "
        f"AND received_at >= ? AND received_at < ? GROUP BY {column} ORDER BY n DESC, {column}",
        (days[0], (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()))
    return {key or "": n for key, n in rows}


def review_queue_sizes(store: Store, days: list[str]) -> dict[str, int]:
    """{day: flagged decisions waiting for review at the end of that UTC day}."""
    ends = [(date.fromisoformat(d) + timedelta(days=1)).isoformat() for d in days]
    rows = store.connection().execute(
        "SELECT m.received_at, r.reviewed_at FROM messages m LEFT JOIN reviews r ON r.message_id = m.id "
        "WHERE m.flagged = 1 AND m.received_at < ? AND (r.reviewed_at IS NULL OR r.reviewed_at >= ?)",
        (ends[-1], days[0])).fetchall()
    return {day: sum(1 for received, reviewed in rows if received < end and (reviewed is None or reviewed >= end))
            for day, end in zip(days, ends, strict=True)}


def recent_messages(store: Store, channel: str | None, action: str | None, limit: int,
                    offset: int, address: str | None = None, brand: str | None = None) -> tuple[list[dict], int]:
    """Inbound messages newest first by when they were received (a backfill writes old ones late), with
    their decision and any review, and how many match (of one address, normalised, when given; of one
    brand, as stored, when given: the first brand's is '')."""
    where, params = [], []
    for column, value in (("channel", channel), ("action", action), ("address", address), ("brand", brand)):
        if value or (column == "brand" and value is not None):
            where.append(f"m.{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = store.connection().execute(f"SELECT count(*) FROM messages m {clause}", params).fetchone()[0]
    rows = _rows(store,
                 "SELECT m.id, m.channel, m.provider, m.address, m.body, m.received_at, m.action, m.categories, "
                 "m.language, m.rule, m.matched, m.flagged, m.reply, m.confidence, r.verdict "
                 f"FROM messages m LEFT JOIN reviews r ON r.message_id = m.id {clause} "
                 "ORDER BY m.received_at DESC, m.id DESC LIMIT ? OFFSET ?", (*params, limit, offset))
    return [_decoded(r) for r in rows], total


_QUEUE = ("SELECT m.id, m.channel, m.address, m.body, m.received_at, m.action, m.categories, m.language, "
          "m.rule, m.matched, m.confidence, m.reply FROM messages m LEFT JOIN reviews r ON r.message_id = m.id "
          "WHERE m.flagged = 1 AND r.message_id IS NULL")


def review_queue(store: Store, limit: int = 100) -> tuple[list[dict], int]:
    """Flagged decisions nobody has reviewed yet, oldest first, and how many there are."""
    total = store.connection().execute(f"SELECT count(*) FROM ({_QUEUE}) AS queue").fetchone()[0]
    return [_decoded(r) for r in _rows(store, f"{_QUEUE} ORDER BY m.id LIMIT ?", (limit,))], total


def awaiting_review(store: Store, message_id: int) -> dict | None:
    """The message if it is on the review queue, else None (unknown, not flagged, or reviewed)."""
    rows = _rows(store, f"{_QUEUE} AND m.id = ?", (message_id,))
    return _decoded(rows[0]) if rows else None


def audit_trail(store: Store, record: dict, channel: str, address: str) -> list[dict]:
    """One timeline of an address, oldest first, from Store.contact's record and the reviews.

    Each entry: when, message (text or None), decision, by (events.source, the provider, or
    review:<actor>), result (the state after, or None when nothing changed), and facts: the decision's
    action, categories, rule and matched word, for pages that word it (None for a confirmation).
    """
    messages = {m["id"]: m for m in record["messages"]}
    with_event = {e["message_id"] for e in record["events"] if not e["source"].startswith("review:")}
    entries = []
    for m in record["messages"]:
        if m["id"] not in with_event:
            entries.append({"when": m["received_at"], "message": m["body"], "decision": _decision(m),
                            "by": f"{m.get('channel', channel)}:{m['provider']}", "result": None, "message_id": m["id"],
                            "facts": _facts(m)})
    for e in record["events"]:
        m = messages.get(e["message_id"]) or {}
        facts = _facts({**m, "action": e["action"], "categories": e["categories"], "rule": e["rule"],
                        "matched": e["matched"], "confidence": e.get("confidence")})
        if e["source"].startswith("review:"):
            decision = f"{e['action']} {_scope(e['categories'])} (correction of message {e['message_id']})"
            facts["rule"] = e["source"]
        else:
            decision = _decision(facts)
        entries.append({"when": e["created_at"], "message": e["message"], "decision": decision,
                        "by": e["source"], "result": e["state_after"] if e["changed"] else None,
                        "message_id": e["message_id"], "facts": facts})
    for r in _rows(store, "SELECT r.message_id, r.actor, r.reviewed_at, m.body FROM reviews r "
                          "JOIN messages m ON m.id = r.message_id WHERE r.verdict = 'confirmed' "
                          "AND m.channel = ? AND m.address = ?", (channel, address)):
        entries.append({"when": r["reviewed_at"], "message": r["body"],
                        "decision": f"confirmed the decision on message {r['message_id']}",
                        "by": f"review:{r['actor']}", "result": None, "message_id": r["message_id"], "facts": None})
    return sorted(entries, key=lambda e: (e["when"], e["message_id"] or 0))


def _decision(m: dict) -> str:
    text = f"{m['action']} {_scope(m['categories'])}" if m["action"] in ("opt_out", "opt_in") else m["action"]
    how = m.get("rule") or ""
    if m.get("matched"):
        how += f" “{m['matched']}”"
    return f"{text} ({how})" if how else text


def _facts(m: dict) -> dict:
    return {key: m.get(key) for key in ("action", "categories", "rule", "matched", "confidence")}


def _scope(categories: list[str]) -> str:
    return ", ".join(categories) if categories else "everything"


def _decoded(row: dict) -> dict:
    row["categories"] = json.loads(row["categories"])
    row["decision"] = _decision(row)
    return row
