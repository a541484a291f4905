"""The suppression list as files: every address that must not be contacted, as CSV or JSON, streamed."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator

from ..core.addresses import CANONICAL
from ..core.consent import EVERYTHING
from .erasure import erased_rows
from .store import Store
from .suppression import deciding_scopes, suppressed_rows

EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = ("channel", "address", "scope", "since")
ALL = "all"  # the export's name for EVERYTHING
DIGEST_PREFIX = "hmac-sha256:"  # an erased person's entry: the digest stands where the address would


def suppressions(store: Store, channel: str | None, category: str | None,
                 brand: str | None = None) -> Iterator[tuple[str, str, str, str]]:
    """(channel, address, scope, since) of every address that must not be contacted, in address order:
    by `brand` (as stored), or without one by any brand (each address once, core/brands.py).

    The rule of /api/v1/suppressions/check (consent.suppressed, through handlers/storage/suppression.py):
    without a category, an opt-out of everything; with one, an opt-out of that category, or of everything
    unless the person opted back in to that category. scope is "all" or the category; since is when that
    state was recorded. Streamed (Store.stream): a database error is raised here, not midway, and one
    address's rows are held at a time.
    """
    # A channel sharing another's consent (rcs: SMS') lists that one's rows, under its own name.
    stored = store.consent_channel(channel) if channel else None
    where, params = ("AND channel = ?", (stored,)) if channel else ("", ())
    if brand is not None:
        where, params = where + " AND brand = ?", (*params, brand)
    scopes = deciding_scopes(category)
    rows = store.stream(
        f"SELECT channel, address, brand, scope, status, updated_at FROM consent "
        f"WHERE scope IN ({', '.join('?' * len(scopes))}) {where} ORDER BY channel, address, brand, scope",
        (*scopes, *params))
    listed = ((channel or row_channel, address, ALL if scope == EVERYTHING else scope, since)
              for row_channel, address, scope, since in suppressed_rows(rows, category))
    erased = ((channel or row[0], *row[1:]) for row in erased_suppressions(store, stored, category, brand))
    return itertools.chain(listed, erased)


def erased_suppressions(store: Store, channel: str | None, category: str | None,
                        brand: str | None = None) -> Iterator[tuple[str, str, str, str]]:
    """The erased people kept suppressed, after the addresses: no address is kept for them, so each is
    listed by its keyed digest, "hmac-sha256:<hex>" (handlers/core/personal_data.py), which a tool holding
    ERASURE_KEY can match, and which tells one that replaces its list from this file to keep what it had."""
    wanted = set(deciding_scopes(category))
    held: dict[tuple[str, str], dict[str, str]] = {}
    for row_channel, digest, scope, since in erased_rows(store.connection(), channel, brand):
        if scope in wanted:
            held.setdefault((row_channel, digest), {})[scope] = since
    for (row_channel, digest), scopes in held.items():
        scope = category if category in scopes else EVERYTHING
        yield row_channel, f"{DIGEST_PREFIX}{digest}", ALL if scope == EVERYTHING else scope, scopes[scope]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading ' (as OWASP
    advises against CSV injection), except an E.164 number, which is a number and stays as it is."""
    if cell and cell.startswith(_FORMULA_START) and not CANONICAL["sms"](cell):
        return "'" + cell
    return cell


def export_chunks(rows: Iterable[tuple[str, str, str, str]], fmt: str, per_chunk: int = 2000) -> Iterator[str]:
    """The rows as CSV (header channel,address,scope,since) or as one JSON array of objects, in pieces."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for n, row in enumerate(rows, 1):
            writer.writerow(map(spreadsheet_safe, row))
            if n % per_chunk == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
        return
    # json.dumps's output for {"channel": ..., "address": ..., "scope": ..., "since": ...}, built faster.
    template = "{" + ", ".join(f'"{name}": %s' for name in EXPORT_COLUMNS) + "}"
    encode, separator = json.encoder.encode_basestring, "[\n"
    for n, row in enumerate(rows, 1):
        buffer.write(separator)
        buffer.write(template % tuple(map(encode, row)))
        separator = ",\n"
        if n % per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    buffer.write("[]\n" if separator == "[\n" else "\n]\n")
    yield buffer.getvalue()
