"""GET /metrics: the service's figures in Prometheus's text format, optionally behind METRICS_TOKEN.

Counted as they happen, in each process: inbound messages by outcome, changes of consent made by
them, and the latency and status of each webhook and API request. Under gunicorn every worker
writes its counts to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, set
up by handlers/gunicorn_config.py), and whichever worker answers a scrape adds them all up.

Read from the database when scraped, so right across nodes: each queue's depth, whether the database
answers, and the sha256 of the keyword table this worker serves.
"""

from __future__ import annotations

import hmac
import time
from functools import lru_cache

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from ..storage.retry_queue import pending_counts
from .context import services

metrics = Blueprint("metrics", __name__)

INBOUND = Counter("optout_inbound", "Inbound messages and provider events, by what became of them.",
                  ["channel", "provider", "decision"])
CONSENT_CHANGES = Counter("optout_consent_changes", "Changes of consent made by inbound messages and pages.",
                          ["channel", "action"])
# A webhook answers in a few milliseconds; an import or an export of the API can take seconds.
REQUEST_SECONDS = Histogram("optout_request_seconds", "Time to answer a webhook or API request.", ["route"],
                            buckets=(.0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
RESPONSES = Counter("optout_responses", "Webhook and API responses, by route and status code.", ["route", "code"])

# Each metric's child for one set of label values, looked up once: labels() costs as much as the
# increment itself, on every webhook. The label values come from short fixed lists (routes, codes,
# channels, providers, actions), so the caches stay small.
_inbound = lru_cache(maxsize=1024)(INBOUND.labels)
_consent_changes = lru_cache(maxsize=256)(CONSENT_CHANGES.labels)
_request_seconds = lru_cache(maxsize=256)(REQUEST_SECONDS.labels)
_responses = lru_cache(maxsize=1024)(RESPONSES.labels)

TIMED = ("/webhooks/", "/api/")
# The environ key where the route is noted for RequestMetrics: Flask's matched rule (note_route), or the
# SMS webhook's path where it answers before Flask (handlers/web/sms_webhook.py).
ROUTE = "optout.route"


def count_inbound(channel: str, provider: str, decision: str, transition=None) -> None:
    """One inbound message or event and what became of it; its change of consent, if any."""
    _inbound(channel, provider, decision).inc()
    if transition is not None and transition.changed:
        _consent_changes(channel, transition.action).inc()


def register(app: Flask, directory: str | None) -> None:
    """The /metrics route, and every webhook and API request timed (outermost, so that the SMS
    webhook served before Flask's machinery is timed too: handlers/web/sms_webhook.py). `directory`:
    PROMETHEUS_MULTIPROC_DIR, where the workers' counts are, or None for this process's own."""
    app.extensions["metrics_directory"] = directory
    app.register_blueprint(metrics)
    app.before_request(note_route)
    app.wsgi_app = RequestMetrics(app.wsgi_app)


def note_route():
    """The matched URL rule, as the route label: a path with <address> in it would be a label a person."""
    rule = request.url_rule
    request.environ[ROUTE] = rule.rule if rule is not None else "unmatched"


class RequestMetrics:
    """WSGI middleware: the time to answer each request under TIMED, and its status, by route."""

    def __init__(self, wsgi):
        self.wsgi = wsgi

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(TIMED):
            return self.wsgi(environ, start_response)
        started, status = time.perf_counter(), []

        def noting_status(line, headers, exc_info=None):
            status.append(line[:3])
            return start_response(line, headers, exc_info)

        try:
            return self.wsgi(environ, noting_status)
        finally:
            route = environ.get(ROUTE, "unmatched")
            _request_seconds(route).observe(time.perf_counter() - started)
            _responses(route, status[-1] if status else "500").inc()


@metrics.get("/metrics")
def scrape():
    """Every worker's counts added up, and the figures read now from the database."""
    token = services().settings.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return Response("GET /metrics needs Authorization: Bearer <METRICS_TOKEN>\n", 401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = CollectorRegistry()
    directory = current_app.extensions["metrics_directory"]
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:  # one process (flask run, tests): its counts are in the default registry
        registry.register(ProcessCounts())
    registry.register(DatabaseFigures(services()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class ProcessCounts:
    """This process's own metrics (the default registry's), when no worker shares them through files."""

    def collect(self):
        yield from REGISTRY.collect()


class DatabaseFigures:
    """What a scrape reads at its moment: queue depths and database up from the database, and the keyword
    table's sha256 from this worker's memory."""

    def __init__(self, app_services):
        self.services = app_services

    def collect(self):
        table = InfoMetricFamily("optout_keyword_table", "The keyword table this worker serves.")
        table.add_metric([], {"sha256": self.services.keywords.checksum})
        yield table
        up = GaugeMetricFamily("optout_database_up", "1 when the database answers, else 0.")
        depth = GaugeMetricFamily("optout_queue_depth", "Rows waiting to be sent, by queue.", labels=["queue"])
        try:
            problem = self.services.store.health()
            counts = {} if problem else pending_counts(self.services.store)
        except Exception:  # noqa: BLE001 - whatever the driver raised, the scrape says the database is down
            problem, counts = "unavailable", {}
        up.add_metric([], 0 if problem else 1)
        for queue, count in counts.items():
            depth.add_metric([queue], count)
        yield up
        yield depth
