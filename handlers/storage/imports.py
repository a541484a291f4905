"""Imports of other tools' suppression lists: plain lists, and SendGrid, Mailgun and Postmark exports.

Written in one or a few large transactions through Store.write (executemany; the current state is
read inside the same transaction), so a million rows cost seconds, not hours; webhooks that arrive
meanwhile wait for the transaction in progress (a few seconds at most) and are then recorded as usual.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..core import consent
from ..core.addresses import PHONE_CHANNELS, InvalidAddress, normalise
from ..core.brands import FIRST
from ..core.consent import EVERYTHING, OUT
from ..core.consent_webhooks import ConsentChange
from ..core.decision import OPT_OUT, Decision
from ..core.provider_events import is_hard_bounce
from .bulk import Progress, TransferError, csv_rows, text_stream
from .consent_webhooks import queue as queue_webhooks
from .erasure import erased_states
from .messages import event_row, record_events
from .states import queue_pushes, read_states, write_states
from .store import Store, now

_IMPORT_CHUNK = 100_000  # addresses per import transaction


@dataclass
class ImportReport:
    format: str
    channel: str
    lines: int = 0  # lines holding an address (header and blank lines not counted)
    imported: int = 0  # recorded as opt-outs of everything now
    duplicates: int = 0  # the same address (once normalised) earlier in the file
    already: int = 0  # already opted out of everything here
    erased: int = 0  # erased here and kept suppressed by digest: a list is not their own act, nothing recorded
    bounces: int = 0  # hard bounces (a Postmark export's SuppressionReason): no one's choice, not recorded
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, text, reason)


# Header names compared without case, spaces or underscores: "Email Address" == "EmailAddress".
def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def detect_format(header: list[str]) -> tuple[str, int | None]:
    """(format, index of the address column) from a file's first row; ("plain", None) when it is no header.

    SendGrid global unsubscribes: email,created. Mailgun unsubscribes: address,tag(s),created_at.
    Postmark suppressions: EmailAddress (or "Email Address"),SuppressionReason,Origin,CreatedAt.
    """
    keys = [_column_key(name) for name in header]
    if "emailaddress" in keys:
        return "postmark", keys.index("emailaddress")
    if "address" in keys and ({"tag", "tags", "createdat"} & set(keys)):
        return "mailgun", keys.index("address")
    if "email" in keys and "created" in keys:
        return "sendgrid", keys.index("email")
    return "plain", None


def read_import(raw: BinaryIO, channel: str | None, region: str,
                progress: Progress | None = None) -> tuple[ImportReport, Iterator[str]]:
    """Detect the format; return the report (filled in as the addresses are read) and the new addresses,
    normalised and each once."""
    text = text_stream(raw)
    first = text.readline()
    header = next(csv.reader([first]), [])
    fmt, column = detect_format(header)
    keys = [_column_key(name) for name in header]
    reason = keys.index("suppressionreason") if fmt == "postmark" and "suppressionreason" in keys else None
    if fmt != "plain":
        if channel in PHONE_CHANNELS:
            raise TransferError(f"a {fmt} export holds email addresses, not phone numbers (--channel {channel})")
        channel = "email"
    elif channel is None:
        # A plain list is of one kind: the first address says which.
        channel = "email" if "@" in first else "sms"
    report = ImportReport(fmt, channel)

    def lines() -> Iterator[tuple[int, str, str | None]]:
        """(line number, address text, why the line is unreadable or None)."""
        if fmt == "plain":
            yield 1, first, None
            for number, line in enumerate(text, 2):
                yield number, line, None
            return
        for number, row, problem in csv_rows(iter(text), 2):
            if row and reason is not None and reason < len(row) and is_hard_bounce(row[reason].strip()):
                report.bounces += 1  # the one rule for hard bounces (core/provider_events.py)
                continue
            yield number, (row[column] if row and column < len(row) else ""), problem

    def addresses() -> Iterator[str]:
        seen: set[str] = set()
        position = 0
        for number, value, problem in lines():
            if progress and number % 5000 == 0:
                position, before = raw.tell(), position
                progress(position - before)
            value = value.strip()
            if not value and not problem:
                continue
            report.lines += 1
            try:
                if problem:
                    raise InvalidAddress(problem)
                address = normalise(channel, value, region)
            except InvalidAddress as e:
                report.invalid.append((number, value[:80] + "…" * (len(value) > 80), str(e)))
                continue
            if address in seen:
                report.duplicates += 1
                continue
            seen.add(address)
            yield address
        if progress:
            progress(raw.tell() - position)

    return report, addresses()


def import_suppressions(store: Store, raw: BinaryIO, channel: str | None, region: str,
                        progress: Progress | None = None, source: str | None = None,
                        brand: str = FIRST) -> ImportReport:
    """Record every new address in `raw` as an opt-out of everything from `brand` (as stored; the first
    brand's unless told) (events.source 'import:<format>'),
    but hard bounces (a Postmark export's SuppressionReason HardBounce), which are counted and skipped.

    Addresses already opted out of everything are skipped, so importing a file twice records nothing
    the second time. Written in transactions of 100,000 addresses, sorted: a random list
    touches most pages of the consent index in every transaction, so fewer, larger ones write less.
    """
    # The bytes read are reported once their addresses are written: the writing is most of the time,
    # and a bar that runs ahead of it shows an ETA of 00:00:00 for the rest.
    read = [0]

    def written() -> None:
        if progress and read[0]:
            progress(read[0])
            read[0] = 0

    report, addresses = read_import(raw, channel, region, lambda n: read.__setitem__(0, read[0] + n))
    return record_opt_outs(store, report, addresses, source or f"import:{report.format}", brand, written)


def record_opt_outs(store: Store, report: ImportReport, addresses: Iterator[str], source: str,
                    brand: str = FIRST, written: Callable[[], None] | None = None) -> ImportReport:
    """Record each address as an opted out of everything (counted in `report`) for `brand` (as stored),
    100,000 a transaction, calling `written` after each. A provider's own export or list (source
    ...:sendgrid) is not pushed back to that provider."""
    synced_from = source.rpartition(":")[2] if report.format != "plain" else None
    decision = Decision(OPT_OUT, source)

    fresh = consent.apply({}, decision, ())  # the same for everyone with no state on record
    fresh_after = json.dumps(fresh.after, sort_keys=True)

    stored = store.consent_channel(report.channel)  # an RCS list is recorded under SMS' consent (core/channels.py)

    def record(chunk: list[str]) -> Callable[..., None]:
        chunk.sort()  # neighbouring keys: the lookups and the index inserts touch far fewer pages

        def work(conn):
            store.db.lock_everyone(conn)
            with store.dialect.bulk(conn):
                states = read_states(conn, stored, chunk, brand=brand)
                erased = erased_states(conn, store.erasure_key, stored, chunk, brand)
                report.erased += len(erased)
                stamp, events, final = now(), [], {}
                for address in chunk:
                    state = states.get(address)
                    if address in erased:
                        continue
                    if state is None:
                        transition, after = fresh, fresh_after
                    elif state.get(EVERYTHING) == OUT:
                        report.already += 1
                        continue
                    else:
                        transition = consent.apply(state, decision, ())
                        after = json.dumps(transition.after, sort_keys=True)
                    events.append(event_row(stored, address, transition, "[]", source, None, stamp, after, brand))
                    final[address] = (transition.after, stamp)
                # The events' ids, for the consent webhooks: those after the last id now (no one else
                # writes events meanwhile, lock_everyone), read back by the primary key.
                last_id = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0] \
                    if store.webhook_to else None
                record_events(conn, events)
                write_states(conn, stored, final, states, brand)
                if stored == "email":
                    queue_pushes(conn, store.push_to, synced_from,
                                 [(e[1], OPT_OUT, "[]", None, stamp) for e in events if e[4]])
                if store.webhook_to:
                    queue_webhooks(conn, store.webhook_to, [
                        ConsentChange(stored, address, OPT_OUT, (), stamp, source, event_id=event_id)
                        for event_id, address in conn.execute(
                            "SELECT id, address FROM events WHERE id > ? AND source = ? AND changed = 1 ORDER BY id",
                            (last_id, source)).fetchall()])
                report.imported += len(events)
        return work

    chunk: list[str] = []
    for address in addresses:
        chunk.append(address)
        if len(chunk) == _IMPORT_CHUNK:
            store.write(record(chunk))
            chunk = []
            if written:
                written()
    if chunk:
        store.write(record(chunk))
    if written:
        written()
    return report
