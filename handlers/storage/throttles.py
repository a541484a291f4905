"""Throttles kept in the database, so that every process and every node counts the same events: at most
`limit` events per key in a sliding window of `window` seconds."""

from __future__ import annotations

import random
import time

from .database import lock_key
from .store import Store

FORGET_AFTER = 86_400.0  # events older than a day are deleted now and then (no throttle looks further back)


class SharedThrottle:
    """Like the in-process Throttle (handlers/web/throttles.py), counted in the throttle_events table.

    Only for rare events (failed logins, wrong API tokens): each counted event is one committed write.
    """

    def __init__(self, store: Store, name: str, limit: int, window: float):
        self.store, self.name, self.limit, self.window = store, name, limit, window

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (and nothing counted) when it is over the limit."""
        def work(conn) -> bool:
            # One key's events are counted one transaction at a time, so two nodes cannot both let
            # through the last allowed event.
            self.store.db.lock_person(conn, lock_key(f"throttle:{self.name}", key))
            moment = time.time()
            if self._count(conn, key, moment) >= self.limit:
                return False
            conn.execute("INSERT INTO throttle_events (name, key, at) VALUES (?, ?, ?)", (self.name, key, moment))
            if random.random() < 0.01:
                conn.execute("DELETE FROM throttle_events WHERE at < ?", (moment - FORGET_AFTER,))
            return True

        return self.store.write(work)

    def full(self, key: str) -> bool:
        """Whether `key` is at its limit now (without counting an event)."""
        return self._count(self.store.connection(), key, time.time()) >= self.limit

    def _count(self, conn, key: str, moment: float) -> int:
        return conn.execute("SELECT count(*) FROM throttle_events WHERE name = ? AND key = ? AND at > ?",
                            (self.name, key, moment - self.window)).fetchone()[0]
