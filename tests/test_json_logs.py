"""LOG_FORMAT=json: every line a gunicorn run writes is one JSON object, with the text lines' fields
and the same masking."""

import json
import logging
import sys

import pytest
from conftest import serve
from live_posts import EMAIL_SETTINGS, post_mime, post_sms, scrape

from handlers.web.log_format import JsonLines, log_format

PHONE, EMAIL, WORDS = "+14155550931", "secret.person@example.org", "please stop texting me"


def test_every_line_of_a_gunicorn_run_is_one_json_object_with_the_masked_fields(tmp_path):
    with serve(tmp_path, LOG_FORMAT="json", **EMAIL_SETTINGS) as (base, _):
        assert post_sms(base, PHONE, WORDS) == 200
        assert post_mime(base, EMAIL, "unsubscribe", "json-1") == 200
        assert post_sms(base, PHONE, "STOP", token="wrong") == 403  # a refusal: a WARNING line
        scrape(base)
    log = (tmp_path / "server.log").read_text()
    lines = [json.loads(line) for line in log.splitlines()]  # each line parses, or this fails naming it
    assert all(isinstance(line, dict) and {"time", "level", "message"} <= line.keys() for line in lines)
    webhooks = sorted((line["channel"], line["provider"], line["action"], line["from"]) for line in lines
                      if line["message"].startswith("webhook "))
    assert webhooks == [("email", "mime", "opt_out", "s•••@e•••.org"), ("sms", "twilio", "opt_out", "+•••31")]
    assert any(line["level"] == "WARNING" and "refused" in line["message"] for line in lines)
    assert any(line["message"].startswith("Booting worker") for line in lines)  # gunicorn's own lines too
    for needle in (PHONE, PHONE[2:], EMAIL, "@example.org", WORDS):
        assert needle not in log, needle


def test_a_json_line_keeps_the_text_lines_fields_and_its_traceback_on_one_line():
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "could not record message %s", ("SM1",), None)
    try:
        raise RuntimeError("disk I/O error")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    text = JsonLines().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert (line["level"], line["module"]) == ("ERROR", "test_json_logs")
    assert line["message"] == "could not record message SM1"
    assert "RuntimeError: disk I/O error" in line["exc_info"]


@pytest.mark.parametrize("value, expected", [(None, "text"), ("", "text"), ("JSON", "json"), (" text ", "text")])
def test_log_format_values(value, expected):
    assert log_format(value) == expected


def test_an_unknown_log_format_stops_the_start(make_app, settings):
    with pytest.raises(ValueError, match="LOG_FORMAT must be text or json"):
        make_app({**settings, "LOG_FORMAT": "xml"})
