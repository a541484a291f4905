"""Hurt the real service and check nothing acknowledged is lost: kill -9 a worker, then the whole
server, in the middle of a stream of signed STOPs; restart; every 2xx is in the database, the file
passes integrity_check, and the retried deliveries of the unanswered ones are recorded once."""

import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import twilio_params
from service import Service, deliver


@pytest.fixture
def service(tmp_path):
    service = Service(tmp_path)
    service.release()
    service.start()
    yield service
    service.stop()


def stream(service, messages, hurt, after):
    """Deliver `messages` from 16 threads; call hurt() once `after` of them have been answered."""
    results, answered = {}, threading.Event()

    def one(params):
        results[params["MessageSid"]] = deliver(service, params)
        if sum(1 for s in results.values() if s == 200) >= after:
            answered.set()

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one, p) for p in messages]
        answered.wait(30)
        hurt()
        for f in futures:
            f.result()
    return results


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


def stops(n, offset):
    return [twilio_params("STOP", sender=f"+1415{offset + i:07d}") for i in range(n)]


def kill_workers(service):
    """kill -9 every worker (gunicorn's master starts new ones). Each, not one: on a busy machine one
    worker may hold no request at that instant, and then the kill would test nothing."""
    for pid in service.workers():
        os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_workers_mid_stream_loses_nothing(service):
    messages = stops(400, 1_000_000)
    results = stream(service, messages, lambda: kill_workers(service), after=100)
    assert any(status is None for status in results.values()), "the kill came too late to hurt anything"
    time.sleep(1)  # gunicorn starts a new worker
    check_database(service, results, messages)


def test_kill_9_of_the_whole_server_mid_stream_loses_nothing(service):
    messages = stops(400, 2_000_000)
    results = stream(service, messages, service.kill_all, after=100)
    assert any(status is None for status in results.values()), "the kill came too late to hurt anything"
    service.start()
    check_database(service, results, messages)
