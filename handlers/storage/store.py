"""The store: the one write transaction per inbound message, an operator's review, and the reads the
API and pages need, on SQLite or PostgreSQL alike.

How a write reaches the disk (locks, durability, group commit, pools) is the database's job (the
Database protocol, handlers/storage/database.py); what their SQL does differently is
handlers/storage/dialect.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import TypeVar

from ..core.brands import FIRST
from ..core.channels import DEFAULT_POLICY, ChannelPolicy
from ..core.consent import Transition
from ..core.consent import apply as consent_apply
from ..core.consent_webhooks import ConsentChange
from ..core.decision import OPT_IN, OPT_OUT, Decision
from ..core.inbound import Inbound, Replay
from ..core.intake import ASK_WINDOW, ASKED, CONFIRMATION_INTERVAL, Decide, Recorded, confirms
from ..core.personal_data import address_digest
from ..core.provider_events import COMPLAINT_RULE
from .consent_webhooks import queue as queue_webhooks
from .database import Database, StoreError, is_postgres_url, lock_key, sqlite_path
from .erasure import erased_state_column, erased_states, forget_erasure
from .messages import message_row, record_message
from .states import queue_pushes, read_brand_states, read_state, record_transition, state_column, states_of
from .suppression import Suppressed, suppressed_among

__all__ = ["Store", "StoreError", "now", "dict_rows"]
T = TypeVar("T")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _claim_nonce(conn, provider: str, nonce: str, provider_id: str) -> None:
    """Record that `nonce` came with `provider_id`; Replay if it came before with another message.
    Insert first: of two requests with one token on two nodes at once, the second waits, then sees it."""
    conn.execute("INSERT INTO nonces (nonce, provider, provider_id, seen_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (nonce) DO NOTHING", (nonce, provider, provider_id, now()))
    row = conn.execute("SELECT provider_id FROM nonces WHERE nonce = ?", (nonce,)).fetchone()
    if row[0] != provider_id:
        raise Replay(f"{provider} token already used by another message")


def dict_rows(cursor) -> list[dict]:
    """A cursor's rows as {column: value}, from either database's cursor."""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def open_database(location: str) -> Database:
    """The database at `location`: a postgresql:// (or postgres://) URL, else a SQLite file."""
    if is_postgres_url(location):
        from .postgres import PostgresDatabase  # psycopg is loaded only where it is used

        return PostgresDatabase(location)
    from .sqlite import SqliteDatabase

    return SqliteDatabase(sqlite_path(location))


class Store:
    """Every query the service makes, over one database: a SQLite file path (or sqlite:/// URL), or a
    postgresql:// URL."""

    def __init__(self, location: str, push_to: tuple[str, ...] = (), erasure_key: str | None = None,
                 webhook_to: tuple[str, ...] = (),
                 channel_policy: Callable[[], ChannelPolicy] = lambda: DEFAULT_POLICY):
        self.db = open_database(location)
        self.dialect = self.db.dialect
        self.location = self.db.location
        # The providers every change of email consent is queued for (handlers/storage/pushes.py).
        self.push_to = push_to
        # Recognises erased people, kept suppressed by a digest of their address (handlers/storage/erasure.py).
        self.erasure_key = erasure_key
        self._erased_column = f", {erased_state_column(self.dialect)}" if erasure_key else ""
        # The receivers every change of consent is queued for (handlers/storage/consent_webhooks.py).
        self.webhook_to = webhook_to
        self._state_column = state_column(self.dialect)
        self._next_message_id = self.dialect.next_id("messages")
        # keywords.yaml's channel policy as it is now (it may be edited while serving): which channel's
        # consent WhatsApp and RCS use (handlers/core/channels.py).
        self.channel_policy = channel_policy

    def consent_channel(self, channel: str) -> str:
        """The channel whose consent rows, events and erasure entries `channel` reads and writes ("sms" for rcs)."""
        return self.channel_policy().consent_channel(channel)

    def sharing(self, channel: str) -> tuple[str, ...]:
        """The channels sharing `channel`'s consent (its messages are the person's too), `channel` first."""
        return self.channel_policy().sharing(channel)

    # The database's own calls, so that callers need to know only the store.
    def connection(self):
        return self.db.connection()

    def write(self, work: Callable[..., T], person: str | None = None) -> T:
        return self.db.write(work, person)

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        return self.db.stream(sql, params)

    def migrate(self) -> list[str]:
        return self.db.migrate()

    def health(self) -> str | None:
        return self.db.health()

    def release(self) -> None:
        self.db.release()

    def close(self) -> None:
        self.db.close()

    # The webhook's write ------------------------------------------------------------------------

    def record_inbound(self, inbound: Inbound, decide: Decide) -> Recorded:
        """Record the message, its decision, the event and the new state in one committed transaction.

        `decide(current_state, known_language, asked_recently)` is pure and runs inside the transaction,
        after the person's lock (PostgreSQL) or under the one writer (SQLite): two messages from one person
        are decided one after the other, each from the state the other committed. known_language is the
        language of their latest message whose words belonged to one language only; asked_recently,
        whether one of their messages was answered with a question (ASKED) within ASK_WINDOW. A message
        already recorded (same provider and id) changes nothing: Recorded(duplicate=True).
        """
        params = json.dumps(inbound.params, ensure_ascii=False)  # outside the lock: it is the costly part
        # The message is recorded on its own channel; the consent it reads and changes may be another's
        # (an RCS message's is SMS': core/channels.py).
        consent = self.consent_channel(inbound.channel)
        key = lock_key(consent, inbound.address)
        # An erased person is known by their digest only; with no ERASURE_KEY no one was erased.
        digest = address_digest(self.erasure_key, consent, inbound.address) if self.erasure_key else None
        erased_params = (consent, digest) if digest else ()

        def work(conn) -> Recorded:
            self.db.lock_person(conn, key)
            # One statement for "seen before?", "their language", "asked lately?", their state and the
            # new message's id: each statement costs the webhook CPU (on PostgreSQL a round trip too,
            # and the writes below go in one more with COMMIT).
            asked_since = (datetime.now(timezone.utc) - ASK_WINDOW).isoformat(timespec="microseconds")
            seen, known, asked, state, message_id, *erased = conn.execute(
                "SELECT (SELECT id FROM messages WHERE provider = ? AND provider_id = ?), "
                "(SELECT language FROM messages WHERE channel = ? AND address = ? AND language_sure = 1 "
                "ORDER BY id DESC LIMIT 1), "
                "(SELECT 1 FROM messages WHERE channel = ? AND address = ? AND action = ? AND received_at > ? "
                "LIMIT 1), "
                + self._state_column + ", " + self._next_message_id + self._erased_column,
                (inbound.provider, inbound.provider_id, inbound.channel, inbound.address,
                 inbound.channel, inbound.address, ASKED, asked_since, consent, inbound.address,
                 *erased_params)).fetchone()
            if inbound.nonce:
                self._use_nonce(conn, inbound)
            if seen is not None:
                return Recorded(True, seen, None, None)
            # Erased: no consent rows, only the scopes kept suppressed (their own act may change that).
            # Each brand's state apart (core/brands.py): the message's brand decides, STOPALL reaches the others.
            erased_states_by_brand = states_of(erased[0]) if erased else {}
            rows_by_brand = states_of(state)
            brand = inbound.brand or FIRST
            states = {b: {**erased_states_by_brand.get(b, {}), **rows_by_brand.get(b, {})}
                      for b in {*erased_states_by_brand, *rows_by_brand}}
            own = states.pop(brand, {})
            outcome = decide(own, known, asked is not None, states)
            decision, transition, reply = outcome.decision, outcome.transition, outcome.reply
            stamp = now()
            categories = json.dumps(list(decision.categories))
            record_message(conn, message_row(
                message_id, inbound.channel, inbound.provider, inbound.provider_id, inbound.address,
                inbound.recipient, inbound.text, params, stamp, transition.action, categories, decision, reply,
                brand=brand))
            for each_brand, each in ((brand, transition), *outcome.also):
                if each.action not in (OPT_OUT, OPT_IN):
                    continue
                pushed = inbound.channel == "email" and each.changed
                told = bool(self.webhook_to) and each.changed
                source = f"{inbound.channel}:{inbound.provider}"  # rcs:twilio, under SMS' consent, says where
                event_id = record_transition(conn, consent, inbound.address, each, categories,
                                             source, message_id, stamp, want_id=pushed or told, brand=each_brand)
                if pushed:
                    queue_pushes(conn, self.push_to, inbound.synced_from,
                                 [(inbound.address, each.action, categories, event_id, stamp)])
                if told:
                    queue_webhooks(conn, self.webhook_to, [ConsentChange(
                        consent, inbound.address, each.action, decision.categories, stamp, source,
                        decision.rule, message_id, event_id, brand=outcome.brand_keys.get(each_brand))])
                if each_brand in erased_states_by_brand and each.after != each.before:
                    # A new consenting person for this brand: their rows say it now.
                    forget_erasure(conn, consent, digest, each_brand)
            if outcome.mail and inbound.address:
                self._queue_confirmation(conn, inbound, message_id, outcome.mail, stamp)
            return Recorded(False, message_id, transition, reply, decision.rule)

        return self.write(work, key)

    @staticmethod
    def _use_nonce(conn, inbound: Inbound) -> None:
        _claim_nonce(conn, inbound.provider, inbound.nonce, inbound.provider_id)

    def use_nonce(self, provider: str, nonce: str, provider_id: str) -> None:
        """Spend a one-time value on a request that will not be recorded (refused after its signature
        was checked), so that the same signature cannot carry another body later. Raises Replay."""
        self.write(lambda conn: _claim_nonce(conn, provider, nonce, provider_id))

    @staticmethod
    def _queue_confirmation(conn, inbound: Inbound, message_id: int, mail: tuple[str, str], stamp: str) -> None:
        """Queue the confirmation email `mail` if the core says it is sent (intake.confirms), given what
        this reads: a complaint of theirs ever, a confirmation queued for them lately."""
        since = (datetime.now(timezone.utc) - CONFIRMATION_INTERVAL).isoformat(timespec="microseconds")
        recent = conn.execute("SELECT 1 FROM outbox WHERE channel = ? AND address = ? AND created_at > ?",
                              (inbound.channel, inbound.address, since)).fetchone()
        complained = conn.execute("SELECT 1 FROM messages WHERE channel = ? AND address = ? AND rule = ?",
                                  (inbound.channel, inbound.address, COMPLAINT_RULE)).fetchone()
        if not confirms(complained=complained is not None, confirmed_recently=recent is not None):
            return
        conn.execute(
            "INSERT INTO outbox (message_id, channel, address, subject, body, in_reply_to, created_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (message_id, inbound.channel, inbound.address, mail[0], mail[1], inbound.message_id, stamp, stamp))

    # Reads for the API --------------------------------------------------------------------------

    def suppressed_among(self, channel: str, addresses: Iterable[str], category: str | None,
                         brand: str | None = None) -> set[str]:
        """Which of `addresses` must not be contacted (on `channel`, for `category` if given, by `brand` as
        stored, else by any brand): the core's rule (consent.suppressed), through
        handlers/storage/suppression.py."""
        wanted = addresses if isinstance(addresses, (set, frozenset)) else set(addresses)
        channel = self.consent_channel(channel)
        conn = self.connection()
        found = suppressed_among(conn, channel, wanted, category, brand)
        erased = erased_states(conn, self.erasure_key, channel, wanted - found, brand)
        if erased:
            is_suppressed = Suppressed(category)
            found |= {address for address, state in erased.items() if is_suppressed(state)}
        return found

    def contact(self, channel: str, address: str, brand: str = FIRST) -> dict:
        """Current state (for `brand`, as stored) and full history of one address: the events of its
        consent (SMS' for rcs) and the messages of every channel sharing it; "brands": the state of every
        brand it has one for."""
        conn = self.connection()
        state = self.state(channel, address, brand)
        consent, sharing = self.consent_channel(channel), self.sharing(channel)
        events = dict_rows(conn.execute(
            "SELECT e.id, e.brand, e.action, e.categories, e.changed, e.state_after, e.source, e.created_at, "
            "e.message_id, m.body AS message, m.rule, m.matched, m.stage, m.confidence FROM events e "
            "LEFT JOIN messages m ON m.id = e.message_id "
            "WHERE e.channel = ? AND e.address = ? ORDER BY e.id", (consent, address)))
        messages = dict_rows(conn.execute(
            "SELECT id, channel, brand, provider, provider_id, body, received_at, action, categories, language, "
            "rule, matched, flagged, reply, stage, confidence FROM messages "
            f"WHERE channel IN ({', '.join('?' * len(sharing))}) AND address = ? ORDER BY id", (*sharing, address)))
        for row in events:
            row["categories"] = json.loads(row["categories"])
            row["state_after"] = json.loads(row["state_after"])
            row["changed"] = bool(row["changed"])
        for row in messages:
            row["categories"] = json.loads(row["categories"])
            row["flagged"] = bool(row["flagged"])
        brands = {b: dict(state) for b, state in read_brand_states(conn, consent, address).items()}
        return {"state": state, "brands": brands, "events": events, "messages": messages}

    def link_id(self, channel: str, address: str, brand: str = FIRST) -> str:
        """The unsubscribe-link id of an address for one brand's messages (as stored), made on first use."""
        find = "SELECT id FROM links WHERE channel = ? AND address = ? AND brand = ?"
        row = self.connection().execute(find, (channel, address, brand)).fetchone()
        if row:
            return row[0]

        def work(conn):
            conn.execute("INSERT INTO links (id, channel, address, brand, created_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT DO NOTHING", (secrets.token_urlsafe(12), channel, address, brand, now()))
            return conn.execute(find, (channel, address, brand)).fetchone()[0]

        return self.write(work)

    def link_address(self, link_id: str) -> tuple[str, str, str] | None:
        """(channel, address, brand as stored) of an unsubscribe-link id."""
        row = self.connection().execute("SELECT channel, address, brand FROM links WHERE id = ?",
                                        (link_id,)).fetchone()
        return tuple(row) if row else None

    def state(self, channel: str, address: str, brand: str = FIRST) -> dict[str, str]:
        """The consent state of one address for one brand (as stored): its rows, or what was kept
        suppressed when it was erased."""
        channel = self.consent_channel(channel)
        conn = self.connection()
        erased = erased_states(conn, self.erasure_key, channel, (address,), brand).get(address, {})
        return {**erased, **read_state(conn, channel, address, brand)}

    def opted_in_since(self, channel: str, address: str, moment: str, category: str | None,
                       brand: str = FIRST) -> bool:
        """Whether the person opted back in to `brand` (as stored) at `moment` (ISO, UTC) or later, to
        `category` or to everything (to anything at all when `category` is None)."""
        rows = self.connection().execute(
            "SELECT categories FROM events WHERE channel = ? AND address = ? AND action = 'opt_in' AND changed = 1 "
            "AND created_at >= ? AND brand = ?", (self.consent_channel(channel), address, moment, brand)).fetchall()
        return any(category is None or category in json.loads(row[0]) or not json.loads(row[0]) for row in rows)

    def review(self, message_id: int, verdict: str, actor: str, categories: tuple[str, ...],
               tell: Callable[[str, Transition, str | None], tuple[str, str] | None] | None = None) -> dict:
        """An operator's verdict on a flagged message: 'confirmed', 'not_opt_out' or 'opt_out'.

        A correction records a new event from `actor` and changes the state. Nothing is sent to the person
        unless `tell` is given: then the message it makes of the change ((subject, body); channel, the
        transition and the person's language in) is queued in the outbox, once per reviewed message.
        Returns {"message_id", "verdict", "event_id", "changed", "told"}; raises LookupError for an
        unknown message and ValueError for a verdict that does not fit the message.
        """
        if verdict not in ("confirmed", "not_opt_out", "opt_out"):
            raise ValueError(f"unknown verdict {verdict!r}")

        def work(conn) -> dict:
            row = conn.execute("SELECT channel, address, action, categories, brand, language FROM messages "
                               "WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise LookupError(f"no message {message_id}")
            # A correction is for the message's brand.
            message_channel, address, action, recorded_categories, brand, language = row
            channel = self.consent_channel(message_channel)  # an RCS message's consent is SMS'
            self.db.lock_person(conn, lock_key(channel, address))
            if verdict == "not_opt_out" and action != OPT_OUT:
                raise ValueError("that message was not recorded as an opt-out")
            if verdict == "opt_out" and action == OPT_OUT:
                raise ValueError("that message was already recorded as an opt-out")
            event_id, changed, told = None, False, False
            if verdict != "confirmed":
                before = read_state(conn, channel, address, brand)
                cats = tuple(json.loads(recorded_categories)) if verdict == "not_opt_out" else ()
                decision = Decision(OPT_IN if verdict == "not_opt_out" else OPT_OUT, f"review:{verdict}", cats)
                transition = consent_apply(before, decision, categories)
                stamp = now()
                event_id = record_transition(conn, channel, address, transition, json.dumps(list(cats)),
                                             f"review:{actor}", message_id, stamp, brand=brand)
                changed = transition.changed
                if channel == "email" and changed:
                    queue_pushes(conn, self.push_to, None,
                                 [(address, transition.action, json.dumps(list(cats)), event_id, stamp)])
                if changed:
                    queue_webhooks(conn, self.webhook_to, [ConsentChange(
                        channel, address, transition.action, cats, stamp, f"review:{actor}", decision.rule,
                        message_id, event_id)])
                told = changed and tell is not None and _queue_correction(
                    conn, message_id, message_channel, address, tell(message_channel, transition, language), stamp)
            conn.execute("INSERT INTO reviews (message_id, verdict, actor, event_id, reviewed_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET verdict = excluded.verdict, "
                         "actor = excluded.actor, event_id = excluded.event_id, reviewed_at = excluded.reviewed_at",
                         (message_id, verdict, actor, event_id, now()))
            return {"message_id": message_id, "verdict": verdict, "event_id": event_id, "changed": changed,
                    "told": told}

        return self.write(work)


def _queue_correction(conn, message_id: int, channel: str, address: str, said: tuple[str, str] | None,
                      stamp: str) -> bool:
    """Queue a reviewer's one message about a correction, unless one was queued for this message already."""
    if said is None or conn.execute("SELECT 1 FROM outbox WHERE message_id = ? AND kind = 'correction'",
                                    (message_id,)).fetchone():
        return False
    conn.execute("INSERT INTO outbox (message_id, channel, address, subject, body, created_at, next_attempt_at, kind) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, 'correction')", (message_id, channel, address, *said, stamp, stamp))
    return True
