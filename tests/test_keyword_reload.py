"""A saved edit of keywords.yaml is used within seconds, in every worker, without a restart; a
broken edit never takes the service down."""

import logging
import shutil
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from conftest import AUTH_TOKEN, HANG, ROOT, serve, twilio_params, twilio_post
from twilio.request_validator import RequestValidator

from app import create_app


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
    assert "'start' is also under" in status["error"] and "line " in status["error"]
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
    services.reload_interval = 0
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
