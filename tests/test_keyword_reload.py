"""A saved edit of keywords.yaml is used within seconds, in every worker, without a restart; a
broken edit never takes the service down."""

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import (
    AUTH_TOKEN,
    HANG,
    ROOT,
    free_port,
    procfile_line,
    serve,
    twilio_params,
    twilio_post,
    wait_until,
)
from test_admin import login, table
from twilio.request_validator import RequestValidator

from app import create_app
from handlers.services import Services
from handlers.storage import keyword_tables
from handlers.storage.store import Store


def add_stop_word(path, word):
    text = path.read_text()
    old = "    stop: [stop, stopall,"
    assert old in text
    path.write_text(text.replace(old, f"    stop: [stop, {word}, stopall,", 1))


@pytest.fixture
def keywords(tmp_path):
    path = tmp_path / "keywords.yaml"
    shutil.copy(ROOT / "keywords.yaml", path)
    return path


@pytest.fixture
def live(settings, keywords):
    app = create_app({**settings, "KEYWORDS_PATH": str(keywords)})
    app.extensions["optout"].reload_interval = 0  # look at the file on every request
    app.extensions["optout"].switch_after = 0  # and serve what it saved at once (one process: none to wait for)
    yield app
    app.extensions["optout"].store.close()


def answered(client, text, sender):
    response = twilio_post(client, twilio_params(text, sender=sender))
    assert response.status_code == 200
    return [m.text for m in ET.fromstring(response.data).iter("Message")]


def test_an_edit_is_used_without_a_restart(live, keywords):
    client = live.test_client()
    assert answered(client, "ENOUGH", "+14155550301") == []
    add_stop_word(keywords, "enough")
    assert len(answered(client, "ENOUGH", "+14155550302")) == 1
    assert live.extensions["optout"].keyword_status()["error"] is None


def test_a_broken_edit_keeps_the_last_good_table_and_says_why(live, keywords, caplog):
    client = live.test_client()
    status_before = live.extensions["optout"].keyword_status()
    keywords.write_text(keywords.read_text().replace("    stop: [stop, stopall,", "    stop: [stop, start, stopall,"))
    with caplog.at_level(logging.ERROR, logger="optout.keywords"):
        assert len(answered(client, "STOP", "+14155550303")) == 1  # still serving, with the old table
    status = live.extensions["optout"].keyword_status()
    assert status["error"].startswith(f"{keywords}:") and "'start' is also under" in status["error"]  # file:line:
    assert status["checksum"] == status_before["checksum"]
    assert "still serving the table loaded at" in caplog.text
    keywords.write_text((ROOT / "keywords.yaml").read_text())
    answered(client, "hello", "+14155550304")
    assert live.extensions["optout"].keyword_status()["error"] is None


def test_every_gunicorn_worker_picks_up_an_edit_within_5_seconds(tmp_path, keywords):
    with serve(tmp_path, KEYWORDS_PATH=str(keywords)) as (base, env):
        url = f"{base}/webhooks/twilio/sms"

        def send(text, n):
            params = twilio_params(text, sender=f"+1415555{n:04d}")
            request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
                "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
            with urllib.request.urlopen(request, timeout=HANG) as response:
                return [m.text for m in ET.fromstring(response.read()).iter("Message")]

        assert send("ENOUGH", 1) == []
        add_stop_word(keywords, "enough")
        saved, n = time.monotonic(), 2
        while not send("ENOUGH", n):
            n += 1
            assert time.monotonic() - saved < HANG, "the edit was never picked up"  # 5 s: the 12 below
            time.sleep(0.2)
        time.sleep(max(0.0, saved + 5 - time.monotonic()))
        # Five seconds after saving, every request, whichever worker takes it, uses the new table.
        assert all(send("ENOUGH", 100 + i) for i in range(12))


def test_new_examples_are_learnt_in_the_background_while_the_last_model_serves(settings, keywords, tmp_path,
                                                                                monkeypatch, caplog):
    from handlers.core import understanding

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.tsv").write_text("opt_out\tplease stop texting me\nhelp\twho is this\nnone\tsee you at eight\n"
                                   "opt_in\tsend them again\nnone\tcan I change my order\n")
    monkeypatch.setattr(understanding, "CORPUS", corpus)
    monkeypatch.setattr(understanding, "_LOADED", {})
    app = create_app({**settings, "KEYWORDS_PATH": str(keywords), "MODEL_CACHE_DIR": str(tmp_path / "models")})
    services = app.extensions["optout"]
    services.reload_interval = services.switch_after = 0
    first = services.keywords.model
    go = threading.Event()  # training waits for it, so that the test sees the time in between
    train = understanding.train
    monkeypatch.setattr(understanding, "train", lambda *a: go.wait(HANG) and train(*a))
    keywords.write_text(keywords.read_text() + '\nexamples:\n  opt_out:\n    en: ["zorblax the texts"]\n')
    with caplog.at_level(logging.WARNING, logger="optout.keywords"):
        reloaded = services.keywords
        assert reloaded.examples and reloaded.model is first  # the new table, served with the last model
        assert services.keywords.model is first
        go.set()
        deadline = time.monotonic() + HANG
        while services.keywords.model is first:  # the trained model replaces it once it is ready
            assert time.monotonic() < deadline, "the model trained in the background never came"
            time.sleep(0.05)
    assert services.keywords.model.inputs_hash != first.inputs_hash and services.keywords.examples
    assert "training its model in the background" in caplog.text and "new model is in use" in caplog.text
    assert len(list((tmp_path / "models").glob("model-*.npz"))) == 2
    services.store.close()


class Texter:
    """Clients sending one text, each from a new number, to a gunicorn server: eight at once while
    running, or one at a time by probe(). gunicorn's access log (GUNICORN_CMD_ARGS) names the worker
    that answered each, so that a test can wait until both have answered."""

    LOG_FORMAT = "--access-logfile - --access-logformat 'served-by %(p)s %({x-probe}i)s'"

    def __init__(self, base, log, text):
        self.url, self.log, self.text = f"{base}/webhooks/twilio/sms", log, text
        self.answers, self.lock, self.numbers = {}, threading.Lock(), iter(range(1, 10**6))

    def probe(self) -> bool:
        """Send the text once: whether it was answered as an opt-out."""
        with self.lock:
            n = next(self.numbers)
        params = twilio_params(self.text, sender=f"+1415{n:07d}")
        request = urllib.request.Request(self.url, data=urllib.parse.urlencode(params).encode(), headers={
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(self.url, params),
            "X-Probe": str(n)})
        sent = time.monotonic()
        with urllib.request.urlopen(request, timeout=HANG) as response:
            stopped = any(True for _ in ET.fromstring(response.read()).iter("Message"))
        with self.lock:
            self.answers[n] = (sent, time.monotonic(), stopped)
        return stopped

    @contextlib.contextmanager
    def running(self):
        stop = threading.Event()
        clients = [threading.Thread(target=lambda: [self.probe() for _ in iter(stop.is_set, True)])
                   for _ in range(8)]
        for client in clients:
            client.start()
        try:
            yield
        finally:
            stop.set()
            for client in clients:
                client.join(HANG)

    def workers_since(self, moment: float) -> set[str]:
        served = dict(line.split()[2:0:-1] for line in self.log.read_text().splitlines()
                      if line.startswith("served-by "))
        with self.lock:
            sent_since = [n for n, (sent, *_) in self.answers.items() if sent > moment]
        return {served.get(str(n)) for n in sent_since} - {None}

    def late_old_answers(self) -> list[int]:
        """The texts sent after some worker had answered one with the new table, answered with the old."""
        first_new = min(done for _, done, stopped in self.answers.values() if stopped)
        return [n for n, (sent, _, stopped) in self.answers.items() if sent > first_new and not stopped]


def test_gunicorn_workers_switch_tables_at_the_same_moment(tmp_path, keywords):
    """Eight clients send the same text all along while a keyword is added: once any worker has answered
    with the new table, every text sent after that is answered with it, whichever worker takes it."""
    with serve(tmp_path, KEYWORDS_PATH=str(keywords), GUNICORN_CMD_ARGS=Texter.LOG_FORMAT) as (base, env):
        texter = Texter(base, tmp_path / "server.log", "ENOUGH")
        with texter.running():
            wait_until(lambda: len(texter.workers_since(0)) == 2, "both workers answering with the first table")
            edited = time.monotonic()
            add_stop_word(keywords, "enough")
            wait_until(lambda: len(texter.workers_since(edited + Services.switch_after + 2)) == 2,
                       "both workers answering after the edit")
    assert texter.late_old_answers() == []


def test_a_broken_edit_never_splits_gunicorn_workers(tmp_path, keywords):
    """The issue's case: a keyword added and used by one worker, then a broken edit saved before the
    other worker looked at the file. Every worker serves the added keyword (the last good table)."""
    with serve(tmp_path, KEYWORDS_PATH=str(keywords), GUNICORN_CMD_ARGS=Texter.LOG_FORMAT) as (base, env):
        texter = Texter(base, tmp_path / "server.log", "ENOUGH")
        with texter.running():
            wait_until(lambda: len(texter.workers_since(0)) == 2, "both workers answering with the first table")
        # Idle for longer than a worker waits between looks at the file: the next text makes one look.
        time.sleep(Services.reload_interval + 0.1)
        add_stop_word(keywords, "enough")
        wait_until(texter.probe, "a text answered with the edited table")
        keywords.write_text(keywords.read_text().replace("    stop: [stop, enough,", "    stop: [start, enough,"))
        with texter.running():
            # Each worker says once that it read the broken edit and keeps the last good table.
            wait_until(lambda: (tmp_path / "server.log").read_text().count("edit not used, still serving") == 2,
                       "both workers reading the broken edit")
            read = time.monotonic()
            wait_until(lambda: len(texter.workers_since(read)) == 2, "both workers answering after reading it")
    assert texter.late_old_answers() == []


def test_a_broken_file_puts_a_banner_atop_every_admin_page_and_each_process_shows_its_table(live, keywords):
    client = live.test_client()
    assert login(client).status_code == 303
    served = live.extensions["optout"].keywords.checksum
    assert [r["Table (sha256)"] for r in table(client.get("/admin").text, "keyword-servers")] == [served[:12]]
    keywords.write_text(keywords.read_text().replace("    stop: [stop, stopall,", "    stop: [start, stopall,"))
    for path in ("/admin", "/admin/review", "/admin/contacts", "/admin/deliveries", "/admin/audit"):
        page = client.get(path).text
        banner = re.search(r'<p class="error" role="alert" id="keyword-banner">(.*?)</p>', page, re.DOTALL)
        assert banner and page.index(banner[0]) < page.index("<h1"), path
        assert re.search(rf"{re.escape(str(keywords))}:\d+: languages\.en\.\w+\.0: &#39;start&#39; is also under",
                         banner[1]), banner[1]
    process, = table(client.get("/admin").text, "keyword-servers")
    assert process["Table (sha256)"] == served[:12] and "is also under" in process["Its keywords.yaml"]
    keywords.write_text((ROOT / "keywords.yaml").read_text())
    assert 'id="keyword-banner"' not in client.get("/admin/review").text


def test_a_broken_file_at_start_up_says_where_in_one_line(tmp_path, keywords):
    text = keywords.read_text()
    keywords.write_text(text.replace("    stop: [stop, stopall,", "    stop: [start, stopall,"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PORT": str(free_port()),
           "DATABASE_PATH": str(tmp_path / "db.sqlite3"), "KEYWORDS_PATH": str(keywords)}
    web = subprocess.run(procfile_line("web"), shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=HANG)
    assert web.returncode != 0
    assert "Traceback" not in web.stderr + web.stdout
    line = text[:text.index("    start: [start, unstop,")].count("\n") + 1  # the first problem: 'start' twice
    said = [out for out in web.stderr.splitlines() if out.startswith("Not serving")]
    assert said == [f"Not serving: keywords.yaml cannot be used: {keywords}:{line}: languages.en.start.0: 'start' is "
                    "also under languages.en.stop ('start'): a keyword can mean only one thing (and 7 more: flask "
                    "check-keywords lists them)"], web.stderr


@pytest.mark.backends("sqlite", "postgresql")
def test_the_database_keeps_one_table_and_what_each_process_serves(settings):
    store = Store(settings["DATABASE_URL"] or settings["DATABASE_PATH"])
    store.migrate()
    try:
        keyword_tables.save(store, b"brand: A\n", "a" * 64, "node-1:/srv/keywords.yaml", "2030-01-01T00:00:00+00:00")
        # Another worker saving the same edit later: it is served from the first moment still.
        keyword_tables.save(store, b"brand: A\n", "a" * 64, "node-2:/srv/keywords.yaml", "2030-01-01T00:00:09+00:00")
        assert keyword_tables.current_checksum(store) == ("a" * 64, "2030-01-01T00:00:00+00:00")
        edited = "brand: Ä\n".encode()
        keyword_tables.save(store, edited, "b" * 64, "node-2:/srv/keywords.yaml", "2030-01-02T00:00:00+00:00")
        held = keyword_tables.current(store)
        assert (held.content, held.checksum, held.source) == (edited, "b" * 64, "node-2:/srv/keywords.yaml")
        keyword_tables.report_served(store, "node-1:10", "a" * 64, None)
        keyword_tables.report_served(store, "node-1:10", "b" * 64, "keywords.yaml:3: bad")
        keyword_tables.report_served(store, "node-2:20", "b" * 64, None)
        assert [(s["server"], s["checksum"][0], s["file_error"]) for s in keyword_tables.servers(store)] == [
            ("node-1:10", "b", "keywords.yaml:3: bad"), ("node-2:20", "b", None)]
    finally:
        store.close()
