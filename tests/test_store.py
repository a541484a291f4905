"""The store on real SQLite files and the real PostgreSQL: durable settings, migrations under concurrent
start-up, group commits, round trips, prepared statements, values as given."""

import multiprocessing
import os
import random
import sqlite3
import threading
import uuid

import pytest
from conftest import HANG, wait_until

from handlers.storage.database import lock_key
from handlers.storage.schema import MIGRATIONS
from handlers.storage.store import Store, StoreError


def migrate(path):
    Store(path).migrate()


def test_several_processes_starting_at_once_migrate_once(tmp_path):
    path = str(tmp_path / "race.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=migrate, args=(path,)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(HANG)
    assert [w.exitcode for w in workers] == [0] * 4
    conn = sqlite3.connect(path)
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == [name for name, _ in MIGRATIONS]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_database_is_in_wal_mode_and_commit_leaves_the_flush_to_the_writer(tmp_path):
    store = Store(str(tmp_path / "db.sqlite3"))
    store.migrate()
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: SqliteDatabase.flush does it


@pytest.fixture
def flushes(monkeypatch):
    """The size of the file at each fdatasync the store makes."""
    made, real = [], os.fdatasync

    def fdatasync(fd):
        made.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return made


def wal_size(store) -> int:
    return os.path.getsize(store.location + "-wal")


def test_a_write_returns_only_after_the_wal_holding_it_was_flushed(tmp_path, flushes):
    store = Store(str(tmp_path / "db.sqlite3"))
    store.migrate()
    flushes.clear()
    for n in range(3):
        store.write(lambda conn, n=n: conn.execute("INSERT INTO nonces VALUES (?, 'p', 'id', 'now')", (f"n{n}",)))
        assert flushes and flushes[-1] == wal_size(store)  # the flush came after this commit's bytes
    assert len(flushes) == 3


def test_one_flush_covers_every_commit_made_before_it_began(tmp_path, flushes):
    """As with writers in two processes: both commit, the first to flush covers the other's commit."""
    db = Store(str(tmp_path / "db.sqlite3")).db
    db.migrate()
    flushes.clear()
    numbers = []
    for n in range(2):
        with db.transaction(numbers) as conn:  # committed, not yet flushed
            conn.execute("INSERT INTO nonces VALUES (?, 'p', 'id', 'now')", (f"n{n}",))
    assert flushes == []
    db.flush(numbers[1])
    db.flush(numbers[0])
    assert len(flushes) == 1 and flushes[0] == os.path.getsize(db.path + "-wal")
    other_process = Store(db.path).db  # its own view of the counters, through the lock file
    other_process.flush(numbers[1])
    assert len(flushes) == 1


def test_a_migration_run_twice_changes_nothing(tmp_path):
    store = Store(str(tmp_path / "db.sqlite3"))
    assert store.migrate() == [name for name, _ in MIGRATIONS]
    assert store.migrate() == []


def _migrate_the_old_way(path, stop_before=None):
    """A file made as every release before schema.apply_migrations made them: schema.MIGRATIONS applied
    by sqlite-utils' Migrations("optout") (all of them, or those before `stop_before`)."""
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

    from handlers.storage.dialect import SQLITE

    migrations = Migrations("optout")
    for name, statements in MIGRATIONS:
        def apply(db, statements=statements):
            for statement in statements:
                db.execute(SQLITE.ddl(statement))
        migrations(name=name)(apply)
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before=stop_before)
    db.close()


@pytest.mark.parametrize("stop_before, expected", [
    (None, []),  # a file of the current schema: nothing to do
    (MIGRATIONS[-1][0], [MIGRATIONS[-1][0]]),  # one release behind: the last one runs
    ("m004_reviews", [name for name, _ in MIGRATIONS][3:]),
])
def test_a_file_migrated_by_sqlite_utils_migrations_is_carried_on(tmp_path, stop_before, expected):
    path = str(tmp_path / "old.sqlite3")
    _migrate_the_old_way(path, stop_before)
    assert Store(path).migrate() == expected
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id").fetchall()
    assert rows == [("optout", name) for name, _ in MIGRATIONS]
    assert {"stage", "confidence"} <= {c[1] for c in conn.execute("PRAGMA table_info(messages)")}
    # and sqlite-utils reads the table as it always did: every migration applied, none pending
    import sqlite_utils
    from sqlite_utils.migrations import Migrations
    assert [m.name for m in Migrations("optout").applied(sqlite_utils.Database(conn))] == [n for n, _ in MIGRATIONS]


@pytest.mark.backends("sqlite", "postgresql")
def test_both_databases_are_a_database(backend, tmp_path, request):
    """Both satisfy the written protocol (handlers/storage/database.py's Database), every member of it."""
    from handlers.storage.database import Database

    store = Store(str(tmp_path / "db.sqlite3") if backend == "sqlite" else request.getfixturevalue("pg_database"))
    try:
        assert isinstance(store.db, Database)  # every member of the protocol is there
        assert store.db.dialect.name == backend
        store.migrate()
        assert store.db.health() is None
        assert store.db.write(lambda conn: conn.execute("SELECT 1 + 1").fetchone()[0]) == 2
        assert list(store.db.stream("SELECT 3")) == [(3,)]
    finally:
        store.close()


@pytest.fixture
def store(backend, tmp_path, request):
    """A migrated store on a new SQLite file, or on the session's PostgreSQL database."""
    store = Store(str(tmp_path / "db.sqlite3") if backend == "sqlite" else request.getfixturevalue("pg_database"))
    store.migrate()
    yield store
    store.close()


@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_writers_all_commit_and_one_failure_spoils_nothing_else(store):
    """SQLite: threads share one COMMIT, each job in its own savepoint. PostgreSQL: each its own."""
    store.write(lambda conn: conn.execute("CREATE TABLE side_by_side (n INTEGER)"))
    results, errors = {}, {}
    barrier = threading.Barrier(24)

    def writer(n):
        def work(conn):
            conn.execute("INSERT INTO side_by_side VALUES (?)", (n,))
            if n == 7:
                raise ValueError("job 7 fails")
            return n * 10
        barrier.wait()
        try:
            results[n] = store.write(work)
        except ValueError as e:
            errors[n] = str(e)
        finally:
            store.release()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == {7: "job 7 fails"}
        assert results == {n: n * 10 for n in range(24) if n != 7}
        found = sorted(r[0] for r in store.connection().execute("SELECT n FROM side_by_side"))
        assert found == [n for n in range(24) if n != 7]
    finally:
        store.write(lambda conn: conn.execute("DROP TABLE side_by_side"))


def test_postgresql_connections_commit_synchronously(pg_database):
    store = Store(pg_database)
    try:
        assert store.connection().execute("SHOW synchronous_commit").fetchone()[0] == "on"
    finally:
        store.close()


def test_a_postgresql_connection_the_server_ended_is_not_lent_again(pg_database):
    """Connections given back moments ago are judged by their socket, not a round trip: one that the
    server ended meanwhile (a restart, pg_terminate_backend) must still never reach a request."""
    import psycopg

    store = Store(pg_database)
    try:
        store.connection().execute("SELECT 1")
        store.release()
        with psycopg.connect(pg_database, autocommit=True) as admin:
            ended = {pid for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'optout'")}
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(ended),))
            # A backend writes its goodbye to its socket before it leaves pg_stat_activity.
            wait_until(lambda: not admin.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)",
                                                 (list(ended),)).fetchall(), "the ended backends gone")
        assert ended
        for _ in range(len(ended) + 1):  # every pooled connection in turn, the fresh ones after them
            assert store.connection().execute("SELECT pg_backend_pid()").fetchone()[0] not in ended
            store.release()
    finally:
        store.close()


def _stop_from(number: str, sid: str):
    from handlers.core.inbound import Inbound

    return Inbound("sms", "twilio", sid, number, "+15550001111", "STOP", {"Body": "STOP", "MessageSid": sid})


def _decide_stop(state, known_language, asked_recently, other_brands):
    from handlers.core import consent
    from handlers.core.decision import OPT_OUT, Decision
    from handlers.core.intake import Outcome

    decision = Decision(OPT_OUT, "keyword", (), "en", ("en",), "STOP")
    return Outcome(decision, consent.apply(state, decision, ()), "You are opted out.")


@pytest.fixture
def pg_store(pg_database):
    store = Store(pg_database)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def round_trips(monkeypatch):
    """The messages PgConnection sends to the server: each its statements' first words (an INSERT's table)."""
    from handlers.storage.pg_connection import PgConnection

    sent: list[list[str]] = []
    send = PgConnection._send

    def counted(self, statements):
        sent.append([sql.split()[2] if sql.startswith("INSERT") else sql.split()[0] for sql, _ in statements])
        return send(self, statements)

    monkeypatch.setattr(PgConnection, "_send", counted)
    return sent


def test_a_webhooks_write_takes_two_round_trips_to_postgresql(pg_store, round_trips):
    """BEGIN, the person's lock and the read in one message; the writes with COMMIT in the next (a
    retried message: the read, then COMMIT alone). Each round trip costs CPU on both sides."""
    sid, number = f"SM{uuid.uuid4().hex}", f"+1415{uuid.uuid4().int % 10**7:07d}"
    first = pg_store.record_inbound(_stop_from(number, sid), _decide_stop)
    again = pg_store.record_inbound(_stop_from(number, sid), _decide_stop)
    assert round_trips == [
        ["BEGIN", "SELECT", "SELECT"], ["messages", "events", "consent", "COMMIT"],  # the first time
        ["BEGIN", "SELECT", "SELECT"], ["COMMIT"],  # the provider's retry
    ]
    assert (first.duplicate, again.duplicate, again.message_id) == (False, True, first.message_id)
    stored = pg_store.contact("sms", number)
    assert stored["state"] == {"*": "out"}
    assert [m["id"] for m in stored["messages"]] == [first.message_id]
    assert [e["message_id"] for e in stored["events"]] == [first.message_id]


def test_a_failing_statement_sent_later_rolls_back_the_whole_write(pg_store):
    number = f"+1415{uuid.uuid4().int % 10**7:07d}"

    def work(conn):
        conn.execute_later("INSERT INTO links (id, channel, address, created_at) VALUES (?, ?, ?, ?)",
                           (f"l{number}", "sms", number, "2026-11-30"))
        conn.execute_later("INSERT INTO links (id, channel, address, created_at) VALUES (?, ?, ?, ?)",
                           (f"l{number}", "sms", number, "2026-11-30"))  # the same id: refused at COMMIT's trip

    with pytest.raises(StoreError, match="duplicate key"):
        pg_store.write(work)
    assert pg_store.link_address(f"l{number}") is None
    # The connection and what it prepared are still good for the next request.
    assert pg_store.record_inbound(_stop_from(number, f"SM{uuid.uuid4().hex}"), _decide_stop).duplicate is False
    assert pg_store.state("sms", number) == {"*": "out"}


@pytest.mark.parametrize("sql, params, expected", [
    ("SELECT ? IS NULL", (None,), (True,)),  # PREPARE cannot tell the value's type: sent as itself
    ("SELECT count(*) FROM links WHERE channel = ?", ("no such channel",), (0,)),  # prepared
    ("SELECT 100 % 7, '50%'", (), (2, "50%")),  # a literal % needs no doubling by the caller
    (f"SELECT count(*) FROM links WHERE address IN ({', '.join(['?'] * 100)})", tuple(map(str, range(100))), (0,)),
])
def test_statements_inside_a_write_whatever_their_form(pg_store, sql, params, expected):
    def work(conn):
        conn.execute_later("SELECT 1")
        row = conn.execute(sql, params).fetchone()
        return row, conn.execute("SELECT ?::text", ("still in the transaction",)).fetchone()

    assert pg_store.write(work) == (expected, ("still in the transaction",))
    assert pg_store.connection().execute(sql, params).fetchone() == expected  # and outside one


def _prepared_here(store) -> int:
    return store.connection().raw.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]


def _lose_prepared_statements_once(store) -> None:
    """What a pooler in transaction mode does to every transaction: a server connection without them."""
    number = f"+1415{uuid.uuid4().int % 10**7:07d}"
    store.connection().raw.execute("DEALLOCATE ALL")
    with pytest.raises(StoreError, match="does not exist"):
        store.record_inbound(_stop_from(number, f"SM{uuid.uuid4().hex}"), _decide_stop)
    store.release()


def test_prepared_statements_lost_once_cost_one_request_and_are_prepared_again(pg_store):
    pg_store.record_inbound(_stop_from("+14155550111", f"SM{uuid.uuid4().hex}"), _decide_stop)
    _lose_prepared_statements_once(pg_store)
    assert pg_store.record_inbound(_stop_from("+14155550111", f"SM{uuid.uuid4().hex}"), _decide_stop).duplicate is False
    assert pg_store.db.prepares and _prepared_here(pg_store) >= 3


def test_prepared_statements_lost_again_and_again_are_no_longer_used(pg_store, caplog):
    pg_store.record_inbound(_stop_from("+14155550112", f"SM{uuid.uuid4().hex}"), _decide_stop)
    _lose_prepared_statements_once(pg_store)
    pg_store.record_inbound(_stop_from("+14155550112", f"SM{uuid.uuid4().hex}"), _decide_stop)
    with caplog.at_level("WARNING"):
        _lose_prepared_statements_once(pg_store)
    assert "pooler in transaction mode" in caplog.text
    for _ in range(3):  # on connections old and new, nothing prepared any more, nothing lost
        pg_store.connection().raw.execute("DEALLOCATE ALL")
        recorded = pg_store.record_inbound(_stop_from("+14155550112", f"SM{uuid.uuid4().hex}"), _decide_stop)
        assert recorded.duplicate is False and _prepared_here(pg_store) == 0
        pg_store.release()
    pg_store.write(lambda conn: conn.executemany(  # a bulk job's rows are not prepared either
        "INSERT INTO links (id, channel, address, created_at) VALUES (?, ?, ?, ?)",
        [(f"{uuid.uuid4().hex}", "sms", f"+1415555{n:04d}", "2026-11-30") for n in range(100)]))
    assert _prepared_here(pg_store) == 0


@pytest.mark.parametrize("cast, value", [
    ("TEXT", "plain"),
    ("TEXT", "O'Brien's \"reply\""),
    ("TEXT", "back\\slash \\' and \\\\"),
    ("TEXT", "x'); DROP TABLE links; --"),
    ("TEXT", "Arrêt ✋ 停止 \U0001F6D1 \u2028 line\nbreak\ttab"),
    ("TEXT", ""),
    ("TEXT", "?, $1, %s, %(x)s, 100%"),
    ("TEXT", None),
    ("BIGINT", 0),
    ("BIGINT", -42),
    ("BIGINT", 2**63 - 1),
    ("DOUBLE PRECISION", 1732934400.123456),
    ("DOUBLE PRECISION", -1e-05),
    ("BOOLEAN", True),
])
def test_values_reach_postgresql_exactly_as_given(pg_store, cast, value):
    """Values are quoted into the statements' text (PooledConnection.literal): each must arrive as it left."""
    prepared = f"SELECT CAST(? AS {cast})"
    itself = f"SELECT CAST(? AS {cast}), {', '.join(['?'] * 70)}"  # too many values to prepare: sent as itself
    assert pg_store.write(lambda conn: conn.execute(prepared, (value,)).fetchone()) == (value,)
    assert pg_store.write(lambda conn: conn.execute(itself, (value, *range(70))).fetchone())[0] == value


def test_a_text_with_a_nul_is_refused_not_cut_short(pg_store):
    """libpq would end the text at the NUL. (A message's own texts never hold one: Inbound keeps it as
    U+FFFD, tests/test_twilio_webhook.py.)"""
    number = f"+1415{uuid.uuid4().int % 10**7:07d}"
    with pytest.raises(StoreError, match="NUL"):
        pg_store.write(lambda conn: conn.execute_later(
            "INSERT INTO links (id, channel, address, created_at) VALUES (?, ?, ?, ?)",
            (f"l{number}", "sms", f"{number}\x00 and then more", "2026-11-30")))
    assert pg_store.link_address(f"l{number}") is None


def test_a_rollback_after_a_bulk_executemany_keeps_the_prepared_statements(pg_store):
    """A large executemany is prepared by psycopg (a bulk job's rows planned once); psycopg drops every
    prepared statement after a ROLLBACK it handles itself, which would cost the next webhook."""
    number = f"+1415{uuid.uuid4().int % 10**7:07d}"
    pg_store.record_inbound(_stop_from(number, f"SM{uuid.uuid4().hex}"), _decide_stop)
    prepared = _prepared_here(pg_store)

    def bulk_then_fail(conn):
        conn.executemany("INSERT INTO links (id, channel, address, created_at) VALUES (?, ?, ?, ?)",
                         [(f"bulk{n}{number}", "sms", f"{number}{n}", "2026-11-30") for n in range(100)])
        raise ValueError("the bulk job fails after its rows")

    with pytest.raises(ValueError):
        pg_store.write(bulk_then_fail)
    assert _prepared_here(pg_store) == prepared + 1  # psycopg's one, beside ours
    assert pg_store.link_address(f"bulk0{number}") is None
    assert pg_store.record_inbound(_stop_from(number, f"SM{uuid.uuid4().hex}"), _decide_stop).duplicate is False
    assert pg_store.db._statements_lost == 0


def _webhooks_at_once(store, inbounds, failing=None):
    """record_inbound of every inbound in its own thread; the first one's decision waits until the
    others have queued behind it, so that they form the next group commit; the one numbered `failing`
    fails in its decision. -> (results, errors) by index."""
    results, errors = {}, {}
    deciding = threading.Event()

    def decide_slowly(state, known_language, asked_recently, other_brands):
        deciding.set()
        wait_until(lambda: len(store.db._writers._queue) == len(inbounds) - 1, "the other webhooks queued")
        return _decide_stop(state, known_language, asked_recently, other_brands)

    def decide_wrong(state, known_language, asked_recently, other_brands):
        raise ValueError("this one cannot be decided")

    def webhook(n):
        decide = decide_slowly if n == 0 else decide_wrong if n == failing else _decide_stop
        try:
            results[n] = store.record_inbound(inbounds[n], decide)
        except Exception as e:  # noqa: BLE001 - the test compares every outcome
            errors[n] = e
        finally:
            store.release()

    threads = [threading.Thread(target=webhook, args=(0,))]
    threads[0].start()
    assert deciding.wait(HANG)  # the first leads its batch of one and is deciding
    threads += [threading.Thread(target=webhook, args=(n,)) for n in range(1, len(inbounds))]
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join()  # each is bounded by wait_until's deadline
    return results, errors


def test_webhooks_written_at_once_share_one_postgresql_transaction(pg_store, round_trips):
    """Group commit: the webhooks that queued while one was deciding go in one transaction, every
    person's lock in its first message, each one's writes with the next one's read: n + 1 round trips
    and one COMMIT for n webhooks. Each answer comes after that COMMIT, and each is what it would be alone."""
    numbers = [f"+1415{uuid.uuid4().int % 10**7:07d}" for _ in range(5)]
    inbounds = [_stop_from(number, f"SM{uuid.uuid4().hex}") for number in numbers]
    inbounds.append(inbounds[3])  # a provider's retry, in the same batch as the first delivery
    results, errors = _webhooks_at_once(pg_store, inbounds)
    assert errors == {}
    assert round_trips[:2] == [["BEGIN", "SELECT", "SELECT"], ["messages", "events", "consent", "COMMIT"]]
    batch = round_trips[2:]  # the other five, in the order they queued
    assert len(batch) == 6
    assert batch[0] == ["BEGIN", "SELECT", "SELECT"] and batch[-1][-1] == "COMMIT"
    assert [trip for trip in batch[1:] if trip not in (["messages", "events", "consent", "SELECT"], ["SELECT"])] == [
        batch[-1]]
    assert sum(trip.count("BEGIN") for trip in batch) == 1 and sum(trip.count("messages") for trip in batch) == 4
    assert sorted(r.duplicate for r in results.values()) == [False] * 5 + [True]
    assert results[5].message_id == results[3].message_id
    for n, number in enumerate(numbers):
        stored = pg_store.contact("sms", number)
        assert stored["state"] == {"*": "out"}
        assert [m["id"] for m in stored["messages"]] == [results[n].message_id]


def test_a_webhook_that_fails_in_a_group_commit_fails_alone(pg_store):
    """Its batch is rolled back and every webhook in it runs again alone: the others are recorded,
    once each, and answered as new messages, not as retries of themselves."""
    numbers = [f"+1415{uuid.uuid4().int % 10**7:07d}" for _ in range(4)]
    inbounds = [_stop_from(number, f"SM{uuid.uuid4().hex}") for number in numbers]
    results, errors = _webhooks_at_once(pg_store, inbounds, failing=2)
    assert list(errors) == [2] and isinstance(errors[2], ValueError)
    assert sorted(results) == [0, 1, 3]
    assert not any(r.duplicate for r in results.values())
    for n in (0, 1, 3):
        assert [m["id"] for m in pg_store.contact("sms", numbers[n])["messages"]] == [results[n].message_id]
    assert pg_store.contact("sms", numbers[2])["messages"] == []


def test_a_group_commit_takes_its_peoples_locks_in_one_order():
    """Every process and node takes a batch's locks sorted: two batches holding some of the same
    people then never wait for each other in a circle (a deadlock PostgreSQL would end after a second)."""
    from handlers.storage.postgres import BULK_LOCK, PostgresDatabase

    database = PostgresDatabase("postgresql://optout@localhost/optout")  # connects on first use only

    class Sent:
        people_locked = frozenset()

        def execute_later(self, sql, params):
            self.sql, self.params = sql, params

    for queued in (["sms:+2", "sms:+1", "email:b@x"], ["email:b@x", "sms:+1", "sms:+2"]):
        conn = Sent()
        database.lock_people(conn, queued)
        assert conn.params == (BULK_LOCK, "email:b@x", "sms:+1", "sms:+2")
        assert conn.sql.count("pg_advisory_xact_lock(hashtextextended(?, 0))") == 3
        assert conn.people_locked == {"email:b@x", "sms:+1", "sms:+2"}
        database.lock_person(conn, lock_key("sms", "+1"))  # already held by the batch: nothing more to send
        assert conn.params == (BULK_LOCK, "email:b@x", "sms:+1", "sms:+2")


def test_two_processes_group_committing_the_same_people_never_deadlock(pg_database):
    """Two stores (two pools: two processes, or nodes) take webhooks from the same few people at once,
    in group commits of whatever queued. PostgreSQL counts a deadlock it had to break; there must be
    none, and every message is recorded once."""
    import psycopg

    def deadlocks() -> int:
        with psycopg.connect(pg_database, autocommit=True) as admin:
            return admin.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                                 ).fetchone()[0]

    stores = [Store(pg_database), Store(pg_database)]
    stores[0].migrate()
    numbers = [f"+1415{uuid.uuid4().int % 10**7:07d}" for _ in range(6)]
    before = deadlocks()
    errors, recorded = [], []

    def sender(store, seed):
        rng = random.Random(seed)
        for _ in range(12):
            try:
                recorded.append(store.record_inbound(_stop_from(rng.choice(numbers), f"SM{uuid.uuid4().hex}"),
                                                     _decide_stop).message_id)
            except Exception as e:  # noqa: BLE001 - collected, asserted below
                errors.append(e)
            finally:
                store.release()

    threads = [threading.Thread(target=sender, args=(stores[n % 2], n)) for n in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG)
        assert errors == []
        assert deadlocks() == before
        stored = [m["id"] for number in numbers for m in stores[0].contact("sms", number)["messages"]]
        assert sorted(stored) == sorted(recorded) and len(stored) == 16 * 12
    finally:
        for store in stores:
            store.close()
