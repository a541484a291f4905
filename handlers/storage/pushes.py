"""The provider push queue's claims (handlers/sync/push.py sends the rows; they are queued
beside the change they push, by handlers/storage/states.py queue_pushes)."""

from __future__ import annotations

from . import retry_queue

TABLE = "provider_pushes"
COLUMNS = ("id", "provider", "address", "action", "categories", "attempts")


def claim_due(store, limit: int) -> list[dict]:
    return retry_queue.claim_due(store, limit, TABLE, COLUMNS)


def retry_later(store, row: dict, error: str) -> None:
    retry_queue.retry_later(store, row, error, TABLE)


def give_up(store, row: dict, error: str) -> None:
    retry_queue.give_up(store, row, error, TABLE)


def mark_pushed(store, row: dict, note: str | None = None) -> None:
    retry_queue.mark_sent(store, row, TABLE, note)

