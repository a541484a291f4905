"""The store on a real SQLite file: durable settings, migrations under concurrent start-up."""

import multiprocessing
import sqlite3

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


def test_the_database_is_in_wal_mode_with_full_sync(tmp_path):
    store = Store(str(tmp_path / "db.sqlite3"))
    store.migrate()
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_migration_run_twice_changes_nothing(tmp_path):
    store = Store(str(tmp_path / "db.sqlite3"))
    assert store.migrate() == [name for name, _ in MIGRATIONS]
    assert store.migrate() == []


def test_concurrent_writers_share_commits_and_one_failure_spoils_nothing_else(tmp_path):
    import threading
    store = Store(str(tmp_path / "db.sqlite3"))
    store.migrate()
    store.connection().execute("CREATE TABLE t (n INTEGER)")
    results, errors = {}, {}
    barrier = threading.Barrier(24)

    def writer(n):
        def work(conn):
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            if n == 7:
                raise ValueError("job 7 fails")
            return n * 10
        barrier.wait()
        try:
            results[n] = store.write(work)
        except ValueError as e:
            errors[n] = str(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == {7: "job 7 fails"}
    assert results == {n: n * 10 for n in range(24) if n != 7}
    other = sqlite3.connect(store.db.path)
    assert sorted(r[0] for r in other.execute("SELECT n FROM t")) == [n for n in range(24) if n != 7]
