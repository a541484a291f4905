"""Who must not be contacted, read from the consent table: the core's rule (consent.suppressed) applied
to each address's rows, for the check API (Store.suppressed_among) and the export (export.suppressions)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..core.consent import EVERYTHING, OUT, suppressed
from .bulk import in_batches

MANY = 5000  # more addresses than this are checked against every row of the scopes, not looked up


def deciding_scopes(category: str | None) -> tuple[str, ...]:
    """The consent rows that decide whether an address is suppressed: everything's, and the category's
    when one is asked (consent.suppressed reads no other)."""
    return (EVERYTHING,) if category is None else (EVERYTHING, category)


class Suppressed:
    """consent.suppressed for one category (or for everything, without one), over states holding only
    deciding_scopes: asked of the core once per pair of marks (at most nine), so that each of a million
    addresses costs a lookup."""

    def __init__(self, category: str | None):
        self.scopes = deciding_scopes(category)
        self.scope = self.scopes[-1]  # the one asked about
        self._verdicts: dict[tuple[str | None, ...], bool] = {}

    def __call__(self, state: Mapping[str, str]) -> bool:
        marks = tuple(state.get(scope) for scope in self.scopes)
        verdict = self._verdicts.get(marks)
        if verdict is None:
            only = {scope: mark for scope, mark in zip(self.scopes, marks, strict=True) if mark is not None}
            verdict = self._verdicts[marks] = suppressed(only, self.scopes[1:])[self.scope]
        return verdict


def suppressed_among(conn, channel: str, addresses: set[str] | frozenset[str], category: str | None,
                     brand: str | None = None) -> set[str]:
    """Which of `addresses` must not be contacted on `channel` (for `category`, if given) by `brand` (as
    stored); with no brand, by any brand that has them suppressed (the safe reading, core/brands.py)."""
    is_suppressed = Suppressed(category)
    scopes = is_suppressed.scopes
    sql = (f"SELECT address, brand, scope, status FROM consent WHERE channel = ? "
           f"AND scope IN ({', '.join('?' * len(scopes))})")
    params: tuple = (channel, *scopes)
    if brand is not None:
        sql, params = sql + " AND brand = ?", (*params, brand)
    rows: Iterable[tuple]
    if len(addresses) <= MANY:
        rows = in_batches(conn, sql + " AND address IN ({marks})", params, addresses)
    else:
        rows = (row for row in conn.execute(sql, params) if row[0] in addresses)
    states: dict[tuple[str, str], dict[str, str]] = {}
    for address, row_brand, scope, status in rows:
        states.setdefault((address, row_brand), {})[scope] = status
    return {address for (address, _), state in states.items() if is_suppressed(state)}


def suppressed_rows(rows: Iterable[tuple[str, str, str, str, str, str]],
                    category: str | None) -> Iterator[tuple[str, str, str, str]]:
    """(channel, address, scope, since) of each suppressed address, from consent rows (channel, address,
    brand, scope, status, updated_at) of deciding_scopes, sorted by channel, address and brand, once per
    address (its first brand that suppresses it). scope is the row that suppresses (the category's own
    opt-out, else everything's); since, when it was recorded."""
    is_suppressed = Suppressed(category)
    asked = is_suppressed.scope

    def verdict(key, state, stamps):
        if is_suppressed(state):
            scope = asked if state.get(asked) == OUT else EVERYTHING
            return key[0], key[1], scope, stamps[scope]
        return None

    key, state, stamps, listed = None, {}, {}, None
    for channel, address, brand, scope, status, updated_at in rows:
        if (channel, address, brand) != key:
            if key is not None and key[:2] != listed and (row := verdict(key, state, stamps)):
                listed = key[:2]
                yield row
            key, state, stamps = (channel, address, brand), {}, {}
        state[scope] = status
        stamps[scope] = updated_at
    if key is not None and key[:2] != listed and (row := verdict(key, state, stamps)):
        yield row
