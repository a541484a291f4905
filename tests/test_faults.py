"""Hurt the real service and check nothing acknowledged is lost: kill -9 the workers, then the whole
server, in the middle of a stream of signed STOPs and while some are inside the workers; restart;
every 2xx is in the database, the file passes integrity_check, and the retried deliveries of the
unanswered ones are recorded once."""

import os
import signal
import sqlite3

import pytest
from service import Service, deliver, stops_until_hurt


@pytest.fixture
def service(tmp_path):
    service = Service(tmp_path)
    service.release()
    service.start()
    yield service
    service.stop()


def check_database(service, results, messages):
    conn = sqlite3.connect(service.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT provider_id FROM messages")}
        acknowledged = {sid for sid, status in results.items() if status == 200}
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged opt-outs were lost"
        # Twilio retries what got no answer; each is then recorded exactly once.
        for params in messages:
            if results[params["MessageSid"]] != 200:
                assert deliver(service, params) == 200
        rows = conn.execute("SELECT count(*), count(DISTINCT provider_id) FROM messages").fetchone()
        assert rows == (len(messages), len(messages))
        out = conn.execute("SELECT count(*) FROM consent WHERE scope = '*' AND status = 'out'").fetchone()[0]
        assert out == len(messages)
    finally:
        conn.close()


def kill_workers(service):
    """kill -9 every worker (gunicorn's master starts new ones): each, so that every held delivery is cut."""
    for pid in service.workers():
        os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_workers_mid_stream_loses_nothing(service):
    results, messages, held = stops_until_hurt([service], lambda: kill_workers(service), first_sender=1_000_000)
    assert all(results[sid] is None for sid in held), "a delivery inside a killed worker was answered"
    service.wait_until_serving()  # gunicorn's master has started new workers
    check_database(service, results, messages)


def test_kill_9_of_the_whole_server_mid_stream_loses_nothing(service):
    results, messages, held = stops_until_hurt([service], service.kill_all, first_sender=2_000_000)
    assert all(results[sid] is None for sid in held), "a delivery inside the killed server was answered"
    service.start()
    check_database(service, results, messages)
