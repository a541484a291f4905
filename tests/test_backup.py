"""flask backup PATH: a consistent copy of the live SQLite database, taken while webhooks keep arriving."""

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import HANG, ROOT, serve, wait_until
from live_posts import post_sms


def flask_backup(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The command as an operator runs it, in its own process."""
    return subprocess.run(["flask", "--app", "app", "backup", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=HANG)


def test_a_backup_taken_during_a_stream_of_webhooks_holds_every_opt_out_acknowledged_before_it(tmp_path, make_app):
    copy = tmp_path / "backups" / "optout-copy.sqlite3"
    copy.parent.mkdir()
    acknowledged: list[tuple[float, str]] = []  # (when its 200 came back, the number that opted out)
    stop = threading.Event()

    def stream(worker: int):
        for n in range(10_000):
            if stop.is_set():
                return
            sender = f"+1415{worker}{n:06d}"
            if post_sms(base, sender) == 200:
                acknowledged.append((time.monotonic(), sender))

    with serve(tmp_path) as (base, env):
        streams = [threading.Thread(target=stream, args=(w,)) for w in range(4)]
        for thread in streams:
            thread.start()
        try:
            # The command run in this process, so that "before it started" is a moment away from the copy
            # (a new process takes a second or two to start, time for SQLite to checkpoint what it holds).
            operator = make_app({"DATABASE_PATH": env["DATABASE_PATH"], "KEYWORDS_PATH": env["KEYWORDS_PATH"]})
            wait_until(lambda: len(acknowledged) >= 40, "40 opt-outs acknowledged")
            with operator.app_context():
                started = time.monotonic()
                before = {sender for at, sender in list(acknowledged) if at < started}
                taken = operator.test_cli_runner().invoke(args=["backup", str(copy)])
                finished = time.monotonic()
            # The stream went on past the backup: it was taken while the service was writing.
            wait_until(lambda: any(at > finished for at, _ in list(acknowledged)), "an opt-out after the backup")
        finally:
            stop.set()
            for thread in streams:
                thread.join()
    assert taken.exit_code == 0, taken.output
    assert taken.output.startswith(f"backup: {copy}, ") and "integrity_check ok" in taken.output
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    held = {address for (address,) in conn.execute("SELECT address FROM consent WHERE status = 'out'")}
    assert before <= held and len(before) >= 40
    # Each opt-out whole in the copy: its message, its event, its state (one transaction, one moment).
    for table in ("messages", "events"):
        rows = {a for (a,) in conn.execute(f"SELECT address FROM {table} WHERE action = 'opt_out'")}
        assert rows == held, table
    conn.close()
    assert list(copy.parent.iterdir()) == [copy]  # no partial file left beside it


@pytest.mark.parametrize("case, message", [
    ("postgresql", "DATABASE_URL is PostgreSQL: back it up with pg_dump"),
    ("exists", "exists; name a new file, or give --overwrite"),
    ("itself", "is the database itself"),
    ("missing", "no database at"),
])
def test_a_backup_that_cannot_be_taken_says_why_and_exits_1(tmp_path, case, message):
    database = tmp_path / "optout.sqlite3"
    if case != "missing":
        sqlite3.connect(database).close()
    target = {"exists": database.with_name("old.sqlite3"), "itself": database}.get(case, tmp_path / "copy.sqlite3")
    if case == "exists":
        target.touch()
    env = {**_env(database), **({"DATABASE_URL": "postgresql://optout@db.invalid/optout"} if case == "postgresql"
                               else {})}
    done = flask_backup(env, str(target))
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_overwrite_replaces_an_earlier_backup(tmp_path):
    database = tmp_path / "optout.sqlite3"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE consent (address TEXT, status TEXT)")
    conn.execute("INSERT INTO consent VALUES ('+14155550100', 'out')")
    conn.commit()
    conn.close()
    target = tmp_path / "nightly.sqlite3"
    target.write_bytes(b"yesterday's")
    done = flask_backup(_env(database), str(target), "--overwrite")
    assert done.returncode == 0, done.stderr
    assert "1 opt-out rows" in done.stdout
    assert sqlite3.connect(target).execute("SELECT address FROM consent").fetchall() == [("+14155550100",)]


def _env(database) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return {**env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DATABASE_PATH": str(database)}
