"""What the routes and commands share: the settings, the keyword table and the store of one app."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import socket
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from functools import cached_property

from .core.consent_webhooks import urls_of
from .core.keyword_file import KeywordFileError, load_keywords, parse_keywords
from .core.keywords import KeywordTable
from .core.personal_data import ErasureKeyError
from .core.understanding import ready_model, with_model
from .storage import keyword_tables
from .storage.erasure import key_problem
from .storage.store import Store
from .sync.clients import configured

log = logging.getLogger("optout.keywords")


class Services:
    """Built once per app. Each part is made on first use, so that `flask check-keywords` works on a
    broken file and `flask classify` needs no database; create_app touches both when serving."""

    # How often each process looks at keywords.yaml and at the table kept in the database.
    reload_interval = 1.0
    # A table that reads well is kept in the database and served by every worker from this long after it
    # was saved, all at the same moment: longer than reload_interval, so that each has read it by then.
    switch_after = 2.0
    # How often each serving process says which table it serves (the dashboard lists them).
    report_interval = 30.0

    def __init__(self, settings: dict):
        self.settings = settings
        self._table: KeywordTable | None = None
        self._next: tuple[KeywordTable, float] | None = None  # the table saved in the database, and when it serves
        self._stamp = None
        self._checked = 0.0
        self._reported = 0.0
        self._error: str | None = None
        self._lock = threading.Lock()
        self._trained: KeywordTable | None = None  # a reloaded table with the model trained for it in the background
        self.migrated: list[str] = []  # migrations applied when the store was opened
        # Serving: the table is shared through the database (create_app sets it); a command reads the file.
        self.shared = False
        self.server = ""  # host:pid, once this process reported

    @property
    def keywords(self) -> KeywordTable:
        """The keyword table. Serving, the one the database holds, which every worker switches to at the
        same moment; a saved edit that reads well becomes it. A broken edit keeps the last good table
        (and says why in keyword_status() and the log); a broken file at start-up raises."""
        if self._table is None or time.monotonic() - self._checked >= self.reload_interval:
            self._refresh()
        if self._next is not None and time.time() >= self._next[1]:
            self._switch()
        if self._trained is not None:
            self._take_trained()
        return self._table

    def keyword_status(self) -> dict:
        table = self._table
        return {"path": self.settings["KEYWORDS_PATH"], "loaded_at": table.loaded_at if table else None,
                "checksum": table.checksum if table else None, "error": self._error,
                "server": self.server, "shared": self.shared}

    def _refresh(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            path = self.settings["KEYWORDS_PATH"]
            try:
                info = os.stat(path)
                stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            except OSError:
                stamp = None
            read = self._read_file(path, stamp) if self._table is None or stamp != self._stamp else None
            if not self.shared:
                if read is not None and (self._table is None or read.checksum != self._table.checksum):
                    self._serve(self._with_model(read))
                return
            self._follow_database(read)
            if self._table is None:  # at start: the database's table at once (the file's, just saved), else the file's
                pending, self._next = self._next, None
                self._serve(pending[0] if pending else self._with_model(read))
            self._report()

    def _read_file(self, path: str, stamp) -> KeywordTable | None:
        """keywords.yaml after it changed, if it reads well, and shared: saved for every worker to serve.
        A broken one is reported and the last good table kept (at start-up, it raises)."""
        try:
            table = load_keywords(path)
        except KeywordFileError as e:
            if self._table is None:
                raise
            if stamp != self._stamp:
                log.error("keywords.yaml edit not used, still serving the table loaded at %s: %s",
                          self._table.loaded_at, e.one_line())
            self._stamp, self._error, self._reported = stamp, e.one_line(), 0.0
            return None
        self._stamp, self._error, self._reported = stamp, None, 0.0
        if self.shared:
            try:
                self._save(path, table)
            except Exception as e:  # noqa: BLE001 - the database unreachable: retried on the file's next look
                self._stamp = None
                log.error("keywords.yaml read well but was not saved for every worker (%s)", type(e).__name__)
        return table

    def _save(self, path: str, table: KeywordTable) -> None:
        """Make the file's table the one every worker serves, from switch_after seconds on (at once when
        the database holds none yet), unless it is that one already."""
        held = keyword_tables.current_checksum(self.store)
        if held is not None and held[0] == table.checksum:
            return
        with open(path, "rb") as f:
            raw = f.read()
        if hashlib.sha256(raw).hexdigest() == table.checksum:  # not saved again since it was read
            delay = 0 if held is None else self.switch_after
            keyword_tables.save(self.store, raw, table.checksum, f"{socket.gethostname()}:{path}",
                                _moment(time.time() + delay))

    def _follow_database(self, read: KeywordTable | None) -> None:
        """Expect the table the database holds, to serve from its moment on (`read`: the file's, if it
        is that table, saves reading it again)."""
        try:
            held = keyword_tables.current_checksum(self.store)
            if held is None or (self._next is not None and held[0] == self._next[0].checksum):
                return
            if self._table is not None and held[0] == self._table.checksum:
                self._next = None  # saved back to the table served (a reverted edit): no switch after all
                return
            table = read if read is not None and read.checksum == held[0] else None
            if table is None:
                table = parse_keywords(keyword_tables.current(self.store).content, self.settings["KEYWORDS_PATH"])
        except KeywordFileError as e:  # saved by a version of the service that reads the file otherwise
            log.error("the keyword table in the database cannot be used here: %s", e.one_line())
            return
        except Exception as e:  # noqa: BLE001 - the database unreachable: serve what this process has
            log.error("keyword table not checked in the database (%s)", type(e).__name__)
            return
        self._next = (self._with_model(table), datetime.fromisoformat(held[1]).timestamp())

    def _switch(self) -> None:
        with self._lock:
            if self._next is not None and time.time() >= self._next[1]:
                self._serve(self._next[0])
                self._next, self._reported = None, 0.0
                self._report()

    def _serve(self, table: KeywordTable) -> None:
        if self._table is not None:
            log.warning("keywords.yaml reloaded (checksum %s)", table.checksum[:12])
        self._table = table
        if gc.get_freeze_count():
            # Serving under gunicorn, which froze the loaded app (handlers/gunicorn_config.py): the
            # new table joins it. The old one is still freed, by its reference count.
            gc.freeze()

    def _report(self) -> None:
        """Tell the dashboard which table this process serves: on a change, and every report_interval."""
        server = f"{socket.gethostname()}:{os.getpid()}"  # a forked worker is a server of its own
        if server != self.server or time.monotonic() - self._reported >= self.report_interval:
            self.server, self._reported = server, time.monotonic()
            try:
                keyword_tables.report_served(self.store, server, self._table.checksum, self._error)
            except Exception as e:  # noqa: BLE001 - only the dashboard's list waits for the next report
                log.error("keyword table served not reported (%s)", type(e).__name__)

    def _with_model(self, table: KeywordTable) -> KeywordTable:
        """`table` with its model. At start, trained now if it must be (before serving). On a reload whose
        examples or categories changed, trained in the background (a few seconds, and once across the
        processes sharing MODEL_CACHE_DIR) while the table is served with the last model."""
        cache = self.settings.get("MODEL_CACHE_DIR")
        if self._table is None or ready_model(table, cache) is not None:
            return with_model(table, cache)

        def train():
            self._trained = with_model(table, cache)

        self._trained = None
        threading.Thread(target=train, name="model-training", daemon=True).start()
        log.warning("keywords.yaml's examples or categories changed: training its model in the background; "
                    "the last model serves until it is ready")
        return replace(table, model=self._table.model)

    def _take_trained(self) -> None:
        """The model trained in the background, once it is ready, if its table is still the one served."""
        with self._lock:
            trained, self._trained = self._trained, None
            if trained is not None and self._next is not None and self._next[0].checksum == trained.checksum:
                self._next = (replace(self._next[0], model=trained.model), self._next[1])  # due later
            elif trained is not None and self._table is not None and self._table.checksum == trained.checksum:
                self._table = replace(self._table, model=trained.model)
                log.warning("keywords.yaml's new model is in use (checksum %s)", trained.checksum[:12])

    def prepare(self) -> None:
        """Load the keyword table and migrate the database now: fail before serving, not on a request."""
        _ = self.keywords, self.store
        problem = key_problem(self.store.connection(), self.settings.get("ERASURE_KEY"))
        if problem:  # serving without it would let erased people who opted out be contacted again
            raise ErasureKeyError(problem)

    @cached_property
    def store(self) -> Store:
        """The store at DATABASE_URL (PostgreSQL) if set, else the SQLite file DATABASE_PATH; migrated."""
        store = Store(self.settings.get("DATABASE_URL") or self.settings["DATABASE_PATH"],
                      push_to=configured(self.settings), erasure_key=self.settings.get("ERASURE_KEY"),
                      webhook_to=urls_of(self.settings.get("CONSENT_WEBHOOK_URLS")),
                      channel_policy=lambda: self.keywords.channel_policy)
        self.migrated = store.migrate()
        return store

    def close(self) -> None:
        """Close the store's connections (a PostgreSQL pool's too), if it was opened."""
        if "store" in self.__dict__:
            self.store.close()

    def release(self) -> None:
        """A request or command is done with the database for now (a pooled connection goes back)."""
        if "store" in self.__dict__:
            self.store.release()



def _moment(seconds: float) -> str:
    """A time.time() value as the database keeps moments."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")
