"""Backfill from a Twilio message log: record the decisions of inbound messages never seen here, as the
webhook would have, in one large transaction (see handlers/storage/imports.py on why large)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import BinaryIO

from ..core import consent
from ..core.addresses import InvalidAddress, sms_sender
from ..core.classifier import classify
from ..core.decision import HELP, NONE, OPT_IN, OPT_OUT, Decision
from ..core.intake import reply_language
from ..core.keywords import KeywordTable
from .bulk import Progress, TransferError, select_for, text_stream
from .dialect import Dialect
from .erasure import erased_states
from .messages import event_row, message_row, record_events, record_messages
from .states import read_states, write_states
from .store import Store, now

# The console's message-log export: From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,
# AccountSid,Sid,Direction,Price,PriceUnit. Only these are needed.
TWILIO_COLUMNS = ("From", "To", "Body", "SentDate", "Sid", "Direction")
SUPERSEDED = "older_than_a_recorded_decision"  # the rule of a message that came before a decision recorded here
_WRITE_STEP = 20_000  # rows per executemany while writing: the progress bar moves between them


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
    erased: int = 0  # not recorded: from a person erased here (their words stay gone; they stay suppressed)
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
    text = text_stream(raw)
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
                address = sms_sender(sender, region)  # as the webhook stores it
            except InvalidAddress:
                address = sender  # recorded as it was, as evidence; nobody can be found by it
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
                    progress: Progress | None = None,
                    writing: Callable[[int, int], None] | None = None) -> BackfillReport:
    """Record the inbound messages of a Twilio message log that are not recorded here, and their
    decisions, as the webhook would have (messages, events, consent), in SentDate order; send nothing.

    The file is read and classified first; then one transaction reads what is recorded (Sids, states,
    languages, latest decision per person) and writes everything with executemany. A message dated
    before a decision already recorded for that person is recorded but not acted on (SUPERSEDED): a
    late backfill must not undo a newer STOP or START. `writing(done, total)` follows the rows written.
    """
    report = BackfillReport()
    found = read_twilio_log(raw, table, region, report, progress)
    if not found:
        return report

    def work(conn) -> None:
        store.db.lock_everyone(conn)
        with store.dialect.bulk(conn):
            _record_backfill(conn, store.dialect, found, table, report, store.erasure_key, writing)

    store.write(work)
    return report


def _record_backfill(conn, dialect: Dialect, found: list[tuple], table: KeywordTable,
                     report: BackfillReport, erasure_key: str | None = None,
                     writing: Callable[[int, int], None] | None = None) -> None:
    # Table sizes from the largest ids (no count(*) scan); every consent change also writes an event.
    messages_rows, events_rows = (conn.execute(f"SELECT coalesce(max(id), 0) FROM {name}").fetchone()[0]
                                  for name in ("messages", "events"))
    recorded = {sid for (sid,) in select_for(
        conn, "SELECT provider_id FROM messages WHERE provider = 'twilio' {keys}", (), "provider_id",
        {m[SID] for m in found}, messages_rows)}
    new = [m for m in found if m[SID] not in recorded] if recorded else found
    report.already += len(found) - len(new)
    erased = erased_states(conn, erasure_key, "sms", {m[ADDRESS] for m in new})
    if erased:
        kept = [m for m in new if m[ADDRESS] not in erased]
        report.erased, new = report.erased + len(new) - len(kept), kept
    if not new:
        return
    addresses = {m[ADDRESS] for m in new}
    states = read_states(conn, "sms", addresses, events_rows)
    existing = set(states)
    known = dict(select_for(
        conn, "SELECT address, language FROM messages WHERE channel = 'sms' AND language_sure = 1 {keys} "
              "ORDER BY id", (), "address", addresses, messages_rows))
    latest = {address: datetime.fromisoformat(at).timestamp() for address, at in select_for(
        conn, "SELECT address, max(created_at) FROM events WHERE channel = 'sms' {keys} GROUP BY address",
        (), "address", addresses, events_rows)}
    ids = dialect.reserve_ids(conn, "messages", len(new))
    # (decision, known language) -> (the decision in the person's language, its categories as JSON, sure)
    chosen_by: dict[tuple[int, str | None], tuple[Decision, str, int]] = {}
    messages, events, final = [], [], {}
    counts = {OPT_OUT: 0, OPT_IN: 0, HELP: 0, NONE: 0}
    for message_id, (instant, _, stamp, sid, address, recipient, body, params, decision) in zip(ids, new, strict=True):
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
                events.append(event_row("sms", address, transition, categories, "sms:twilio", message_id, stamp))
            if transition.after != transition.before:
                states[address] = transition.after
                final[address] = (transition.after, stamp)
            counts[action] += 1
        else:  # help or nothing: consent.apply would change no state and write no event
            action = picked.action
            counts[action] += 1
        if sure:
            known[address] = picked.language
        messages.append(message_row(message_id, "sms", "twilio", sid, address, recipient, body, params, stamp,
                                    action, categories, picked, rule=None if rule == picked.rule else rule))
    report.opt_outs += counts[OPT_OUT]
    report.opt_ins += counts[OPT_IN]
    report.help += counts[HELP]
    report.none += counts[NONE]
    total, done = len(messages) + len(events), 0
    for rows, record in ((messages, record_messages), (events, record_events)):
        for start in range(0, len(rows), _WRITE_STEP):
            record(conn, rows[start:start + _WRITE_STEP])
            done += len(rows[start:start + _WRITE_STEP])
            if writing:
                writing(done, total)
    write_states(conn, "sms", final, existing)
