"""The app's log lines written in batches when served by gunicorn.

Flask's own handler writes and flushes each line as it comes, through gunicorn's wsgi.errors; under
load that was a sizeable share of a webhook's CPU, its INFO line alone (README, "Benchmark", has the
measurement). Here a request only
formats its line and queues it; one thread per process writes what has queued every INTERVAL, in one
write. A WARNING or worse is written at once, after the lines queued before it, so nothing that
matters waits and the order is kept. A worker that exits writes what is queued (logging's own
shutdown flushes every handler); a line still queued when a worker is killed with -9 is lost:
the database, not the log, is the record of what was decided.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import TextIO

from flask import Flask
from flask.logging import default_handler

from .log_format import json_stream_handler


class BatchedLog(logging.Handler):
    """A handler that writes queued lines to `streams` every INTERVAL seconds, and warnings at once."""

    INTERVAL = 0.1

    def __init__(self, streams: list[TextIO], formatter: logging.Formatter | None = None):
        super().__init__()
        self.streams = streams
        if formatter is not None:
            self.setFormatter(formatter)
        self._queued: deque[str] = deque()  # appends and pops from several threads need no lock
        self._writer_pid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._queued.append(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.flush()
            elif self._writer_pid != os.getpid():  # this process's first line (gunicorn forks after loading)
                self._start_writer()
        except Exception:  # noqa: BLE001 - logging's contract: a failure is reported, never raised to the caller
            self.handleError(record)

    def flush(self) -> None:
        """Write every queued line now."""
        with self.lock:
            lines = []
            while self._queued:
                lines.append(self._queued.popleft())
            if not lines:
                return
            text = "".join(lines)
            for stream in self.streams:
                try:
                    stream.write(text)
                    stream.flush()
                except (OSError, ValueError):  # a closed or broken stream: nothing better to do here
                    pass

    def close(self) -> None:
        self.flush()
        super().close()

    def _start_writer(self) -> None:
        with self.lock:
            if self._writer_pid == os.getpid():
                return
            self._writer_pid = os.getpid()
        threading.Thread(target=self._write_every_interval, name="log-batches", daemon=True).start()

    def _write_every_interval(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            self.flush()


def batch_app_log(app: Flask, streams: list[TextIO]) -> BatchedLog | None:
    """Put a BatchedLog writing to `streams` in place of Flask's default handler on the app's logger, or
    with LOG_FORMAT=json of the root logger's JSON handler, which the app's lines go through (an
    operator's own logging configuration, without either, is left as it is)."""
    handlers, replaced = app.logger.handlers, default_handler
    if default_handler not in handlers:
        replaced = json_stream_handler()
        if replaced is None:
            return None
        handlers = logging.getLogger().handlers
    batched = BatchedLog(streams, replaced.formatter)
    handlers[handlers.index(replaced)] = batched
    return batched
