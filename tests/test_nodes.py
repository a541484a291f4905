"""Several web nodes on one PostgreSQL: each node is the Procfile's real gunicorn (two workers), and every
guarantee that SQLite's single writer gave for free is checked across them: one record and one
confirmation per delivery, one person's messages decided one after another, each email sent once by
many mail workers, throttles counted across nodes, no acknowledged opt-out lost to a kill -9, and
recovery by itself when the database comes back."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from conftest import HANG, MAIL_FROM, ROOT, reply, twilio_params, wait_until
from pg_server import create_database, drop_database, server_url
from service import DELIVERY_TIMEOUT, Service, deliver, deliver_with_body, stops_until_hurt

from handlers.core import consent, intake
from handlers.core.decision import Decision
from handlers.core.keyword_file import load_keywords
from handlers.storage.schema import MIGRATIONS
from handlers.storage.store import Store

pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
def nodes(tmp_path, database_url):
    """Two nodes, A and B, on one database (migrated once by the release command)."""
    started = [Service(tmp_path, DATABASE_URL=database_url) for _ in range(2)]
    started[0].release()
    for node in started:
        node.start()
    yield started
    for node in started:
        node.stop()


def at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()  # each call is bounded by its own timeout
    return results


def rows(db, sql, params=()):
    return db.execute(sql, params).fetchall()


def test_one_delivery_reaching_two_nodes_at_once_is_one_record_and_one_confirmation(nodes, db):
    a, b = nodes
    for i in range(20):
        params = twilio_params("STOP", sender=f"+1415555{i:04d}")
        answers = at_once(lambda p=params: deliver_with_body(a, p), lambda p=params: deliver_with_body(b, p))
        assert [status for status, _ in answers] == [200, 200]
        assert sum("<Message>" in body for _, body in answers) == 1, answers
    assert rows(db, "SELECT count(*), count(DISTINCT provider_id) FROM messages")[0] == (20, 20)
    assert rows(db, "SELECT count(*) FROM events")[0][0] == 20


def test_a_stop_and_a_start_in_the_same_second_end_in_the_state_of_the_later_one(nodes, db):
    a, b = nodes
    table = load_keywords(str(ROOT / "keywords.yaml"))
    people = [f"+1415556{i:04d}" for i in range(20)]
    for person in people:
        statuses = at_once(lambda p=person: deliver(a, twilio_params("STOP", sender=p)),
                           lambda p=person: deliver(b, twilio_params("START", sender=p)))
        assert statuses == [200, 200]
    orders = set()
    for person in people:
        events = rows(db, "SELECT action, categories, state_after FROM events WHERE address = ? ORDER BY id",
                      (person,))
        assert len(events) == 2
        orders.add(tuple(e["action"] for e in events))
        # The history is what the two decisions give one after the other, in the order they committed.
        state = {}
        for event in events:
            decision = Decision(event["action"], "replay", tuple(json.loads(event["categories"])))
            state = consent.apply(state, decision, table.categories).after
            assert json.loads(event["state_after"]) == state
        final = dict(rows(db, "SELECT scope, status FROM consent WHERE address = ?", (person,)))
        assert final == state == json.loads(events[-1]["state_after"])
    assert orders <= {("opt_out", "opt_in"), ("opt_in", "opt_out")}


def test_each_confirmation_email_is_sent_once_however_many_mail_workers_run(database_url, smtp):
    store = Store(database_url)
    table = load_keywords(str(ROOT / "keywords.yaml"))
    for i in range(300):
        intake.handle(reply("unsubscribe", sender=f"person{i}@example.org"), table, store)
    store.close()
    env = {**os.environ, "DATABASE_URL": database_url, "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
           "SMTP_URL": smtp.url, "MAIL_FROM": MAIL_FROM}
    command = [sys.executable, "-m", "flask", "--app", "app", "mail-worker", "--once"]
    for _ in range(4):  # each run claims up to 100: four workers at once contend for the same rows
        workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for _ in range(4)]
        for worker in workers:
            assert worker.wait(HANG) == 0, worker.stderr.read()
        if len(smtp.messages) >= 300:  # all claimed and sent (more would be a double send, failed below)
            break
    sent_to = [rcpt for _, rcpts, _ in smtp.messages for rcpt in rcpts]
    assert len(sent_to) == 300 and set(sent_to) == {f"person{i}@example.org" for i in range(300)}


def api_status(node, token):
    request = urllib.request.Request(f"{node.base}/api/v1/suppressions/check", method="POST",
                                     data=b'{"channel": "sms", "addresses": []}',
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_wrong_api_tokens_are_counted_across_nodes(nodes):
    a, b = nodes
    statuses = [api_status(a, "wrong") for _ in range(20)] + [api_status(b, "wrong") for _ in range(20)]
    assert statuses == [401] * 30 + [429] * 10


def test_kill_9_of_one_node_under_load_loses_no_acknowledged_opt_out(nodes, db):
    a, b = nodes
    results, messages, held = stops_until_hurt([a, b], a.kill_all, first_sender=5_570_000)
    assert all(results[sid] is None for sid in held), "a delivery inside the killed node was answered"
    stored = {r[0] for r in rows(db, "SELECT provider_id FROM messages")}
    acknowledged = {sid for sid, status in results.items() if status == 200}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged opt-outs were lost"
    for params in messages:  # Twilio retries what got no answer (to the node still up): recorded once
        if results[params["MessageSid"]] != 200:
            assert deliver(b, params) == 200
    n = len(messages)
    assert rows(db, "SELECT count(*), count(DISTINCT provider_id) FROM messages")[0] == (n, n)
    assert rows(db, "SELECT count(*) FROM consent WHERE scope = '*' AND status = 'out'")[0][0] == n


def health(node):
    try:
        with urllib.request.urlopen(f"{node.base}/healthz", timeout=DELIVERY_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def database_reachable(database_url, reachable: bool):
    """Refuse (and cut) or allow again every connection to the test database: PostgreSQL down and back."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    server = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if reachable else "false"}')
        if not reachable:
            # Every connection of the service (the test's own reader stays, to look afterwards), and
            # wait until their backends are gone: pg_terminate_backend only signals them.
            def service_backends():
                return conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = "
                                    "'optout'", (name,)).fetchall()
            for (pid,) in service_backends():
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_until(lambda: not service_backends(), "the service's PostgreSQL connections closed")


def test_postgresql_down_answers_5xx_and_503_and_both_recover_by_themselves(nodes, database_url, db):
    a, _ = nodes
    assert deliver(a, twilio_params("STOP", sender="+14155580001")) == 200
    database_reachable(database_url, False)
    try:
        lost = twilio_params("STOP", sender="+14155580002")
        assert deliver(a, lost) == 500  # Twilio retries or uses its fallback URL
        status, body = health(a)
        assert status == 503 and body["status"] == "unhealthy" and body["error"]
    finally:
        database_reachable(database_url, True)
        came_back = time.monotonic()
    # Every worker of the node must be back: ten deliveries and health checks in a row succeed.
    senders, answered = iter(f"+1415558{n:04d}" for n in range(100, 10000)), 0
    while answered < 10:  # the deadline only ends a hang: how soon it recovers is printed, not judged
        assert time.monotonic() - came_back < HANG, f"the node did not recover within {HANG} s"
        ok = health(a)[0] == 200 and deliver(a, twilio_params("STOP", sender=next(senders))) == 200
        answered = answered + 1 if ok else 0
        time.sleep(0 if ok else 0.2)
    print(f"recovered {time.monotonic() - came_back:.1f} s after the database came back")
    assert deliver(a, lost) == 200  # Twilio's retry of the one that got a 500
    stored = {r[0] for r in rows(db, "SELECT address FROM messages")}
    assert {"+14155580001", "+14155580002"} <= stored and len(stored) >= 12


def test_several_nodes_starting_at_once_migrate_once(backend):
    database_url = create_database(server_url())  # a new, empty one: nothing migrated yet
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "flask", "--app", "app", "migrate"]
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
    outputs = [run.communicate(timeout=HANG) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    assert sum("applied" in out for out, _ in outputs) == 1, outputs  # one applied them, three found nothing
    with psycopg.connect(database_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    drop_database(server_url(), database_url)
    assert names == [name for name, _ in MIGRATIONS]
