"""What the routes and commands share: the settings, the keyword table and the store of one app."""

from __future__ import annotations

from functools import cached_property

from flask import current_app

from .keywords import KeywordTable, load_keywords
from .store import Store


class Services:
    """Built once per app. Each part is made on first use, so that `flask check-keywords` works on a
    broken file and `flask classify` needs no database; create_app touches both when serving."""

    def __init__(self, settings: dict):
        self.settings = settings

    @cached_property
    def keywords(self) -> KeywordTable:
        return load_keywords(self.settings["KEYWORDS_PATH"])

    def prepare(self) -> None:
        """Load the keyword table and migrate the database now: fail before serving, not on a request."""
        _ = self.keywords, self.store

    @cached_property
    def store(self) -> Store:
        store = Store(self.settings["DATABASE_PATH"])
        store.migrate()
        return store


def services() -> Services:
    return current_app.extensions["optout"]
