"""The store on a real SQLite file: durable settings, migrations under concurrent start-up."""

import multiprocessing
import os
import sqlite3
import threading
import time

import pytest

from handlers.storage.schema import MIGRATIONS
from handlers.storage.store import Store


def migrate(path):
    Store(path).migrate()


def test_several_processes_starting_at_once_migrate_once(tmp_path):
    path = str(tmp_path / "race.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=migrate, args=(path,)) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * 6
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
        assert ended
        time.sleep(0.2)  # the server's goodbye reaches the idle connections' sockets
        for _ in range(len(ended) + 1):  # every pooled connection in turn, the fresh ones after them
            assert store.connection().execute("SELECT pg_backend_pid()").fetchone()[0] not in ended
            store.release()
    finally:
        store.close()
