"""LOG_FORMAT=json: every log line as one JSON object, for a log collector (Loki, Elasticsearch, CloudWatch).

The fields are the text lines' own: time, level, module and message (gunicorn's lines add process),
and whatever a line passes as `extra` (the webhook line's channel, provider, action, rule, from, at:
handlers/web/webhook_log.py). The values are the ones the text lines hold, masked the same way; the
format changes, not what is written. A traceback is one field (exc_info), so a line stays one line.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

JSON = "json"
FORMATS = ("text", JSON)


class JsonLines(JsonFormatter):
    """One JSON object a line: time, level, module, process, message and the line's extra fields."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(module)s %(process)d %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level"}, json_ensure_ascii=False)


def log_format(value: str | None) -> str:
    """LOG_FORMAT as one of FORMATS; a clear error at start for anything else."""
    text = (value or "text").strip().lower()
    if text not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be text or json, not {value!r}")
    return text


def gunicorn_log_config() -> dict:
    """gunicorn's logconfig_dict for JSON lines: its own lines (gunicorn.error) and every other logger's
    warnings (the root's, where Python would print them bare) as JSON on stderr; no access log, as
    without LOG_FORMAT (an access line would carry each URL, /u/<token> links included)."""
    stream = {"class": "logging.StreamHandler", "formatter": JSON, "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {JSON: {"()": JsonLines}},
        "handlers": {JSON: stream},
        "root": {"level": "WARNING", "handlers": [JSON]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [JSON], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def use_json_logs(app: Flask) -> None:
    """The app's lines go through the root logger's JSON handler (one is added on stderr if gunicorn's
    configuration did not): Flask adds no handler of its own to a logger that has one above it."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonLines) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLines())
        root.addHandler(handler)
    logging.captureWarnings(True)  # a library's warnings.warn() as a JSON line too, not bare text
    if default_handler in app.logger.handlers:  # the app's logger was made before: its lines would go twice
        app.logger.removeHandler(default_handler)


def json_stream_handler() -> logging.Handler | None:
    """The root logger's JSON stream handler (LOG_FORMAT=json), if it has one not yet batched."""
    return next((h for h in logging.getLogger().handlers
                 if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, JsonLines)), None)

