"""Bulk transfers and all their SQL: export the suppression list, import other tools' lists, and
backfill the decisions in a Twilio message log.

Each write is one or a few large transactions through Store.write (executemany; the current state is
read inside the same transaction), so a million rows cost seconds, not hours; webhooks that arrive
meanwhile wait for the transaction in progress (a few seconds at most) and are then recorded as usual.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from . import consent
from .addresses import InvalidAddress, normalise, normalise_phone
from .classifier import HELP, NONE, OPT_IN, OPT_OUT, Decision, classify
from .consent import EVERYTHING, OUT
from .database import StoreError
from .intake import reply_language
from .keywords import KeywordTable
from .store import Store, now

Progress = Callable[[int], None]  # called with the number of bytes read since the last call
EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = ("channel", "address", "scope", "since")
ALL = "all"  # the export's name for EVERYTHING
_BATCH = 500  # addresses per `IN (...)`: well under SQLite's limit on variables
_IMPORT_CHUNK = 100_000  # addresses per import transaction


class TransferError(ValueError):
    """A file this module cannot read as what it was given for; the message says what is wrong."""


def _in_batches(conn: sqlite3.Connection, sql: str, fixed: tuple, keys: Iterable[str]) -> Iterator[tuple]:
    """Rows of `sql` (with `{marks}` for the placeholders of an IN list) for every key, 500 at a time."""
    keys = list(keys)
    for i in range(0, len(keys), _BATCH):
        chunk = keys[i:i + _BATCH]
        yield from conn.execute(sql.format(marks=",".join("?" * len(chunk))), (*fixed, *chunk))


def _select_for(conn: sqlite3.Connection, sql: str, params: tuple, column: str, keys: set[str],
                table_rows: int) -> Iterator[tuple]:
    """Rows of `sql` whose first column is one of `keys`; `{keys}` in sql marks where the test goes.

    A table with at most four rows per key is read once and filtered here; a larger one is looked up,
    500 keys at a time. (A backfill into a young database reads little; into an old one, looks up.)
    """
    if table_rows <= 4 * len(keys):
        return (row for row in conn.execute(sql.format(keys=""), params) if row[0] in keys)
    return _in_batches(conn, sql.format(keys=f"AND {column} IN ({{marks}})"), params, keys)


def _states(conn, channel: str, addresses: Iterable[str], table_rows: int | None = None) -> dict[str, dict[str, str]]:
    """The consent state of each address that has one (looked up, or read whole when the table is small)."""
    states: dict[str, dict[str, str]] = {}
    sql = "SELECT address, scope, status FROM consent WHERE channel = ? {keys}"
    if table_rows is None:
        rows = _in_batches(conn, sql.format(keys="AND address IN ({marks})"), (channel,), addresses)
    else:
        rows = _select_for(conn, sql, (channel,), "address", addresses, table_rows)
    for address, scope, status in rows:
        states.setdefault(address, {})[scope] = status
    return states


def _write_consent(conn, channel: str, final: dict[str, tuple[dict[str, str], str]], existing: Iterable[str]) -> None:
    """Replace the consent rows of each address with its final (state, stamp), as Store._write_event does.
    `existing`: the addresses that had rows before (the others have none to delete)."""
    conn.executemany("DELETE FROM consent WHERE channel = ? AND address = ?",
                     sorted((channel, a) for a in existing if a in final))
    conn.executemany(
        "INSERT INTO consent (channel, address, scope, status, updated_at) VALUES (?, ?, ?, ?, ?)",
        sorted((channel, address, scope, status, stamp)
               for address, (state, stamp) in final.items() for scope, status in state.items()))


@contextmanager
def _large_cache(conn: sqlite3.Connection) -> Iterator[None]:
    """A page cache of 256 MiB for one bulk transaction: its new index entries land on random pages,
    which then stay in memory instead of being spilled to the WAL midway."""
    previous = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(previous)}")


_INSERT_EVENT = ("INSERT INTO events (channel, address, action, categories, changed, state_after, source, "
                 "message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


# Export ------------------------------------------------------------------------------------------

def suppressions(path: str, channel: str | None, category: str | None) -> Iterator[tuple[str, str, str, str]]:
    """(channel, address, scope, since) of every address that must not be contacted, in address order.

    The rule of /api/v1/suppressions/check (consent.suppressed): without a category, an opt-out of
    everything; with one, an opt-out of that category, or of everything unless the person opted back
    in to that category. scope is "all" or the category; since is when that state was recorded. Reads
    on a connection of its own, opened now (so a database error is raised here, not while
    streaming), and holds one row at a time.
    """
    try:
        conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        where, params = ("AND channel = ?", (channel,)) if channel else ("", ())
        if category is None:
            cursor = conn.execute(
                f"SELECT channel, address, scope, updated_at FROM consent WHERE scope = ? AND status = ? {where} "
                "ORDER BY channel, address", (EVERYTHING, OUT, *params))
        else:
            cursor = conn.execute(
                f"SELECT channel, address, scope, status, updated_at FROM consent WHERE scope IN (?, ?) {where} "
                "ORDER BY channel, address, scope", (EVERYTHING, category, *params))
    except sqlite3.Error as e:
        raise StoreError(f"database {path}: {e}") from e
    return _everything_rows(conn, cursor) if category is None else _category_rows(conn, cursor, category)


def _everything_rows(conn, cursor) -> Iterator[tuple[str, str, str, str]]:
    try:
        for channel, address, _, since in cursor:
            yield channel, address, ALL, since
    finally:
        conn.close()


def _category_rows(conn, cursor, category: str) -> Iterator[tuple[str, str, str, str]]:
    """Group each address's rows (at most two: '*' and the category) and apply consent.suppressed."""
    def verdict(key, state, stamps):
        if consent.suppressed(state, (category,))[category]:
            scope = category if state.get(category) == OUT else EVERYTHING
            return key[0], key[1], ALL if scope == EVERYTHING else category, stamps[scope]
        return None

    key, state, stamps = None, {}, {}
    try:
        for channel, address, scope, status, updated_at in cursor:
            if (channel, address) != key:
                if key is not None and (row := verdict(key, state, stamps)):
                    yield row
                key, state, stamps = (channel, address), {}, {}
            state[scope] = status
            stamps[scope] = updated_at
        if key is not None and (row := verdict(key, state, stamps)):
            yield row
    finally:
        conn.close()


def export_chunks(rows: Iterable[tuple[str, str, str, str]], fmt: str, per_chunk: int = 2000) -> Iterator[str]:
    """The rows as CSV (header channel,address,scope,since) or as one JSON array of objects, in pieces."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for n, row in enumerate(rows, 1):
            writer.writerow(row)
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


# Import ------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    format: str
    channel: str
    lines: int = 0  # lines holding an address (header and blank lines not counted)
    imported: int = 0  # recorded as opt-outs of everything now
    duplicates: int = 0  # the same address (once normalised) earlier in the file
    already: int = 0  # already opted out of everything here
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


def _text_stream(raw: BinaryIO) -> io.TextIOWrapper:
    # utf-8-sig: spreadsheet exports often start with a byte-order mark. newline="": the csv module's.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def read_import(raw: BinaryIO, channel: str | None, region: str,
                progress: Progress | None = None) -> tuple[ImportReport, Iterator[str]]:
    """Detect the format; return the report (filled in as the addresses are read) and the new addresses,
    normalised and each once."""
    text = _text_stream(raw)
    first = text.readline()
    header = next(csv.reader([first]), [])
    fmt, column = detect_format(header)
    if fmt != "plain":
        if channel == "sms":
            raise TransferError(f"a {fmt} export holds email addresses, not phone numbers (--channel sms)")
        channel = "email"
    elif channel is None:
        # A plain list is of one kind: the first address says which.
        channel = "email" if "@" in first else "sms"
    report = ImportReport(fmt, channel)

    def lines() -> Iterator[tuple[int, str]]:
        if fmt == "plain":
            yield 1, first
            yield from enumerate(text, 2)
            return
        reader = csv.reader(text)
        for row in reader:
            # line_num counts physical lines, so a quoted field over two lines keeps the numbers right.
            yield reader.line_num + 1, (row[column] if column < len(row) else "")

    def addresses() -> Iterator[str]:
        seen: set[str] = set()
        position = 0
        for number, value in lines():
            if progress and number % 5000 == 0:
                position, before = raw.tell(), position
                progress(position - before)
            value = value.strip()
            if not value:
                continue
            report.lines += 1
            try:
                address = normalise(channel, value, region)
            except InvalidAddress as e:
                report.invalid.append((number, value, str(e)))
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
                        progress: Progress | None = None) -> ImportReport:
    """Record every new address in `raw` as an opt-out of everything (events.source 'import:<format>').

    Addresses already opted out of everything are skipped, so importing a file twice records nothing
    the second time. Written in transactions of 100,000 addresses, sorted: a random list
    touches most pages of the consent index in every transaction, so fewer, larger ones write less.
    """
    report, addresses = read_import(raw, channel, region, progress)
    source = f"import:{report.format}"
    decision = Decision(OPT_OUT, source)

    fresh = consent.apply({}, decision, ())  # the same for everyone with no state on record
    fresh_after = json.dumps(fresh.after, sort_keys=True)

    def record(chunk: list[str]) -> Callable[[sqlite3.Connection], None]:
        chunk.sort()  # neighbouring keys: the lookups and the index inserts touch far fewer pages

        def work(conn):
            with _large_cache(conn):
                states = _states(conn, report.channel, chunk)
                stamp, events, final = now(), [], {}
                for address in chunk:
                    state = states.get(address)
                    if state is None:
                        transition, after = fresh, fresh_after
                    elif state.get(EVERYTHING) == OUT:
                        report.already += 1
                        continue
                    else:
                        transition = consent.apply(state, decision, ())
                        after = json.dumps(transition.after, sort_keys=True)
                    events.append((report.channel, address, OPT_OUT, "[]", int(transition.changed), after, source,
                                   None, stamp))
                    final[address] = (transition.after, stamp)
                conn.executemany(_INSERT_EVENT, events)
                _write_consent(conn, report.channel, final, states)
                report.imported += len(events)
        return work

    chunk: list[str] = []
    for address in addresses:
        chunk.append(address)
        if len(chunk) == _IMPORT_CHUNK:
            store.write(record(chunk))
            chunk = []
    if chunk:
        store.write(record(chunk))
    return report


# Backfill from a Twilio message log ----------------------------------------------------------------

# The console's message-log export: From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,
# AccountSid,Sid,Direction,Price,PriceUnit. Only these are needed.
TWILIO_COLUMNS = ("From", "To", "Body", "SentDate", "Sid", "Direction")
SUPERSEDED = "older_than_a_recorded_decision"  # the rule of a message that came before a decision recorded here


@dataclass
class BackfillReport:
    read: int = 0  # rows in the file
    inbound: int = 0  # of which Direction is inbound
    already: int = 0  # inbound, but their Sid is recorded here (or came earlier in the file)
    opt_outs: int = 0  # recorded, with an opt-out event
    opt_ins: int = 0  # recorded, with an opt-in event
    help: int = 0  # recorded: a request for help (nothing answered)
    none: int = 0  # recorded, no decision
    superseded: int = 0  # recorded without acting: dated before a decision already recorded for that person
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, what is wrong)

    @property
    def recorded(self) -> int:
        return self.opt_outs + self.opt_ins + self.help + self.none + self.superseded


# One inbound message read from the log: a plain tuple (a million of them are made), fields by index.
INSTANT, ORDER, STAMP, SID, ADDRESS, RECIPIENT, BODY, PARAMS, DECISION = range(9)
_DIGITS = re.compile(r"\d+")


def _instant(text: str) -> datetime | None:
    """A SentDate in UTC: ISO 8601, RFC 2822 (the REST API's), or "YYYY-MM-DD HH:MM:SS +0000"."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            try:
                moment = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _sent_at(hours: dict, text: str) -> tuple[float, str] | None:
    """(UTC timestamp, time as the store writes it) of a SentDate, or None if it is not understood.

    The console writes "2024-03-03T08:00:05-07:00": for that shape (a whole-hour offset), the UTC hour
    is worked out once per hour and offset (a year has 8,760 hours, a log a million dates) and the
    minutes and seconds carry over. Anything else goes through _instant.
    """
    if (len(text) == 25 and text[22:] == ":00" and text[13] == ":" and text[16] == ":"
            and text[14:16].isdigit() and text[17:19].isdigit() and text[14] < "6" and text[17] < "6"):
        key = (text[:13], text[19:])
        hour = hours.get(key)
        if hour is None:
            moment = _instant(text[:13] + ":00:00" + text[19:])
            hour = hours[key] = (moment.timestamp(), moment.isoformat()[:13]) if moment else ()
        if hour:
            return hour[0] + int(text[14:16]) * 60 + int(text[17:19]), f"{hour[1]}{text[13:19]}.000000+00:00"
    moment = _instant(text)
    return None if moment is None else (moment.timestamp(), moment.isoformat(timespec="microseconds"))


def _row_json(header: list[str]) -> Callable[[list[str]], str]:
    """The CSV row as a JSON object of column -> value (json.dumps's output, built from a template)."""
    template = "{" + ", ".join(json.dumps(name, ensure_ascii=False).replace("%", "%%") + ": %s"
                               for name in header) + "}"
    width, encode = len(header), json.encoder.encode_basestring  # the C escaper json.dumps uses

    def dumps(row: list[str]) -> str:
        if len(row) != width:
            return json.dumps(dict(zip(header, row)), ensure_ascii=False)  # noqa: B905 - a short row keeps what it has
        return template % tuple(map(encode, row))

    return dumps


def classifier(table: KeywordTable) -> Callable[[str], Decision]:
    """classify(body, table), remembered per body, and per body with its numbers blanked when no keyword,
    phrase or reaction of the table has a digit: "order 1234?" and "order 5678?" are then read alike
    (a token holding a digit can match nothing), so a log's many distinct bodies cost few classifications."""
    written = [*(" ".join(k) for k in table.entries), *(p for p, _, _ in table.phrases), *table.not_stop_phrases,
               *(" ".join(r) for r in table.reactions), *table.joiners]
    blank = not any(_DIGITS.search(text) for text in written)
    by_body: dict[str, Decision] = {}
    by_shape: dict[str, Decision] = {}

    def decide(body: str) -> Decision:
        decision = by_body.get(body)
        if decision is None:
            shape = _DIGITS.sub("0", body) if blank else body
            decision = by_shape.get(shape)
            if decision is None:
                decision = by_shape[shape] = classify(body, table)
            by_body[body] = decision
        return decision

    return decide


def read_twilio_log(raw: BinaryIO, table: KeywordTable, region: str, report: BackfillReport,
                    progress: Progress | None = None) -> list[tuple]:
    """The inbound messages of a Twilio message-log CSV, classified, in SentDate order (no database)."""
    text = _text_stream(raw)
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        raise TransferError("the file is empty")
    header = [name.strip() for name in header]
    missing = [name for name in TWILIO_COLUMNS if name not in header]
    if missing:
        raise TransferError(f"not a Twilio message log: no column {', '.join(missing)} "
                            f"(expected {','.join(TWILIO_COLUMNS)}, as the console exports them)")
    i_from, i_to, i_body, i_date, i_sid, i_dir = (header.index(name) for name in TWILIO_COLUMNS)
    width = max(i_from, i_to, i_body, i_date, i_sid, i_dir) + 1
    decide = classifier(table)
    senders: dict[str, str] = {}
    sids: set[str] = set()
    found: list[tuple] = []
    undated: list[tuple] = []
    row_json, hours = _row_json(header), {}
    position, read, inbound = 0, 0, 0
    for row in reader:
        read += 1
        if progress and read % 20_000 == 0:
            position, before = raw.tell(), position
            progress(position - before)
        if len(row) < width:
            if not row:
                read -= 1  # a blank line
            else:
                report.problems.append((reader.line_num, f"only {len(row)} columns"))
            continue
        direction = row[i_dir]
        if direction != "inbound" and direction.strip().lower() != "inbound":
            continue
        inbound += 1
        sid, sender = row[i_sid].strip(), row[i_from].strip()
        if not sid or not sender:
            report.problems.append((reader.line_num, "no Sid" if not sid else "no From"))
            continue
        if sid in sids:
            report.already += 1
            continue
        sids.add(sid)
        address = senders.get(sender)
        if address is None:
            try:
                address = normalise_phone(sender, region)
            except InvalidAddress:
                address = sender  # short codes and alphanumeric senders, kept as sent (as the webhook does)
            senders[sender] = address
        body = row[i_body]
        params = row_json(row)
        sent = _sent_at(hours, row[i_date])
        if sent is None:
            problem = f"SentDate {row[i_date]!r} not understood: recorded after the dated messages"
            report.problems.append((reader.line_num, problem))
            undated.append((sid, address, row[i_to], body, params, decide(body)))
            continue
        found.append((sent[0], read, sent[1], sid, address, row[i_to], body, params, decide(body)))
    if progress:
        progress(raw.tell() - position)
    report.read += read
    report.inbound += inbound
    # The console lists the newest first: messages of the same second keep their order in time.
    newest_first = len(found) > 1 and found[0][INSTANT] > found[-1][INSTANT]
    found.sort(key=(lambda m: (m[INSTANT], -m[ORDER])) if newest_first else (lambda m: (m[INSTANT], m[ORDER])))
    stamp = now()
    found.extend((float("inf"), 0, stamp, *rest) for rest in undated)
    return found


def backfill_twilio(store: Store, raw: BinaryIO, table: KeywordTable, region: str,
                    progress: Progress | None = None) -> BackfillReport:
    """Record the inbound messages of a Twilio message log that are not recorded here, and their
    decisions, as the webhook would have (messages, events, consent), in SentDate order; send nothing.

    The file is read and classified first; then one transaction reads what is recorded (Sids, states,
    languages, latest decision per person) and writes everything with executemany. A message dated
    before a decision already recorded for that person is recorded but not acted on (SUPERSEDED): a
    late backfill must not undo a newer STOP or START.
    """
    report = BackfillReport()
    found = read_twilio_log(raw, table, region, report, progress)
    if not found:
        return report

    def work(conn: sqlite3.Connection) -> None:
        with _large_cache(conn):
            _record_backfill(conn, found, table, report)

    store.write(work)
    return report


def _record_backfill(conn: sqlite3.Connection, found: list[tuple], table: KeywordTable,
                     report: BackfillReport) -> None:
    # Table sizes from the largest ids (no count(*) scan); every consent change also writes an event.
    messages_rows, events_rows = (conn.execute(f"SELECT coalesce(max(id), 0) FROM {name}").fetchone()[0]
                                  for name in ("messages", "events"))
    recorded = {sid for (sid,) in _select_for(
        conn, "SELECT provider_id FROM messages WHERE provider = 'twilio' {keys}", (), "provider_id",
        {m[SID] for m in found}, messages_rows)}
    new = [m for m in found if m[SID] not in recorded] if recorded else found
    report.already += len(found) - len(new)
    if not new:
        return
    addresses = {m[ADDRESS] for m in new}
    states = _states(conn, "sms", addresses, events_rows)
    existing = set(states)
    known = dict(_select_for(
        conn, "SELECT address, language FROM messages WHERE channel = 'sms' AND language_sure = 1 {keys} "
              "ORDER BY id", (), "address", addresses, messages_rows))
    latest = {address: datetime.fromisoformat(at).timestamp() for address, at in _select_for(
        conn, "SELECT address, max(created_at) FROM events WHERE channel = 'sms' {keys} GROUP BY address",
        (), "address", addresses, events_rows)}
    next_id = messages_rows + 1
    # (decision, known language) -> (the decision in the person's language, its categories as JSON, sure)
    chosen_by: dict[tuple[int, str | None], tuple[Decision, str, int]] = {}
    messages, events, final = [], [], {}
    counts = {OPT_OUT: 0, OPT_IN: 0, HELP: 0, NONE: 0}
    for message_id, (instant, _, stamp, sid, address, recipient, body, params, decision) in enumerate(new, next_id):
        language = known.get(address)
        key = (id(decision), language)
        chosen = chosen_by.get(key)
        if chosen is None:
            picked = reply_language(decision, table, language, None)
            picked = decision if picked == decision.language else replace(decision, language=picked)
            chosen = chosen_by[key] = (picked, json.dumps(list(picked.categories)), int(len(picked.languages) == 1))
        picked, categories, sure = chosen
        rule = picked.rule
        if address in latest and instant < latest[address]:
            action, rule = NONE, SUPERSEDED
            report.superseded += 1
        elif picked.action in (OPT_OUT, OPT_IN):
            state = states.get(address, {})
            transition = consent.apply(state, picked, table.categories)
            action = transition.action
            if action != NONE:
                events.append(("sms", address, action, categories, int(transition.changed),
                               json.dumps(transition.after, sort_keys=True), "sms:twilio", message_id, stamp))
            if transition.after != transition.before:
                states[address] = transition.after
                final[address] = (transition.after, stamp)
            counts[action] += 1
        else:  # help or nothing: consent.apply would change no state and write no event
            action = picked.action
            counts[action] += 1
        if sure:
            known[address] = picked.language
        messages.append((message_id, "sms", "twilio", sid, address, recipient, body, params, stamp,
                         action, categories, picked.language, sure, rule, picked.matched, int(picked.flagged)))
    report.opt_outs += counts[OPT_OUT]
    report.opt_ins += counts[OPT_IN]
    report.help += counts[HELP]
    report.none += counts[NONE]
    conn.executemany(
        "INSERT INTO messages (id, channel, provider, provider_id, address, recipient, body, params, "
        "received_at, action, categories, language, language_sure, rule, matched, flagged, reply) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)", messages)
    conn.executemany(_INSERT_EVENT, events)
    _write_consent(conn, "sms", final, existing)
