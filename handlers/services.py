"""What the routes and commands share: the settings, the keyword table and the store of one app."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import replace
from functools import cached_property

from .core.consent_webhooks import urls_of
from .core.keyword_file import KeywordFileError, load_keywords
from .core.keywords import KeywordTable
from .core.personal_data import ErasureKeyError
from .core.understanding import ready_model, with_model
from .storage.erasure import key_problem
from .storage.store import Store
from .sync.clients import configured

log = logging.getLogger("optout.keywords")


class Services:
    """Built once per app. Each part is made on first use, so that `flask check-keywords` works on a
    broken file and `flask classify` needs no database; create_app touches both when serving."""

    # How often each process looks at keywords.yaml: a saved edit is in use within a second or two,
    # in every worker, without a restart.
    reload_interval = 1.0

    def __init__(self, settings: dict):
        self.settings = settings
        self._table: KeywordTable | None = None
        self._stamp = None
        self._checked = 0.0
        self._error: str | None = None
        self._lock = threading.Lock()
        self._trained: KeywordTable | None = None  # a reloaded table with the model trained for it in the background
        self.migrated: list[str] = []  # migrations applied when the store was opened

    @property
    def keywords(self) -> KeywordTable:
        """The keyword table, reloaded when the file changed. A broken edit keeps the last good table
        (and says why in keyword_status() and the log); a broken file at start-up raises."""
        if self._table is None or time.monotonic() - self._checked >= self.reload_interval:
            self._refresh()
        if self._trained is not None:
            self._take_trained()
        return self._table

    def keyword_status(self) -> dict:
        table = self._table
        return {"path": self.settings["KEYWORDS_PATH"], "loaded_at": table.loaded_at if table else None,
                "checksum": table.checksum if table else None, "error": self._error}

    def _refresh(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            path = self.settings["KEYWORDS_PATH"]
            try:
                info = os.stat(path)
                stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            except OSError:
                stamp = None
            if self._table is not None and stamp == self._stamp:
                return
            try:
                table = self._with_model(load_keywords(path))
            except KeywordFileError as e:
                if self._table is None:
                    raise
                if stamp != self._stamp:
                    log.error("keywords.yaml edit not used, still serving the table loaded at %s: %s",
                              self._table.loaded_at, e)
                self._stamp, self._error = stamp, str(e)
                return
            if self._table is not None:
                log.warning("keywords.yaml reloaded (checksum %s)", table.checksum[:12])
            self._table, self._stamp, self._error = table, stamp, None
            if gc.get_freeze_count():
                # Serving under gunicorn, which froze the loaded app (handlers/gunicorn_config.py): the
                # new table joins it. The old one is still freed, by its reference count.
                gc.freeze()

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
            if trained is not None and self._table is not None and self._table.checksum == trained.checksum:
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

