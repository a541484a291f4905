"""GET /metrics: every gunicorn worker's counts added up, latency buckets, queue depth read from the
database, the keyword table served, METRICS_TOKEN."""

import base64
import hashlib
import json
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, serve, table_missing, twilio_params, twilio_post
from live_posts import EMAIL_SETTINGS, INBOUND_PASSWORD, INBOUND_USER, post_mime, post_sms, samples, scrape

SMS_ROUTE = "/webhooks/twilio/sms"
BASIC = base64.b64encode(f"{INBOUND_USER}:{INBOUND_PASSWORD}".encode()).decode()


def total(found: dict, name: str, **labels) -> float:
    return sum(value for sample_labels, value in found.get(name, [])
               if all(sample_labels.get(k) == v for k, v in labels.items()))


def test_fifty_webhooks_to_two_workers_add_up_and_the_queue_gauge_matches_the_outbox(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A file left by an earlier run (a crash, a restart): cleared at the master's start, or it would
    # count (or, being no metrics file, break every scrape).
    (metrics_dir / "counter_1.db").write_bytes(b"left over")
    with serve(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **EMAIL_SETTINGS) as (base, env):
        deliveries = ([lambda n=n: post_sms(base, f"+1415555{n:04d}") for n in range(40)]
                      + [lambda n=n: post_mime(base, f"person{n}@example.org", "unsubscribe", f"m{n}")
                         for n in range(10)])
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda deliver: deliver(), deliveries))
        assert statuses == [200] * 50
        conn = sqlite3.connect(env["DATABASE_PATH"])
        outbox = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL").fetchone()[0]
        conn.close()
        assert outbox == 10  # one confirmation owed to each email address, waiting (no SMTP_URL)
        # Several scrapes, each answered by whichever worker takes it: every one adds up both.
        for _ in range(6):
            found = scrape(base)
            assert total(found, "optout_inbound_total") == 50
            assert total(found, "optout_inbound_total", channel="sms", provider="twilio", decision="opt_out") == 40
            assert total(found, "optout_inbound_total", channel="email", provider="mime", decision="opt_out") == 10
            assert total(found, "optout_consent_changes_total", action="opt_out") == 50
            buckets = [(labels["le"], value) for labels, value in found["optout_request_seconds_bucket"]
                       if labels["route"] == SMS_ROUTE]
            assert len(buckets) > 5 and ("+Inf", 40) in buckets
            assert total(found, "optout_responses_total", route=SMS_ROUTE, code="200") == 40
            assert found["optout_queue_depth"] == [({"queue": "confirmation_emails"}, outbox),
                                                   ({"queue": "provider_pushes"}, 0),
                                                   ({"queue": "consent_webhooks"}, 0)]
            assert found["optout_database_up"] == [({}, 1)]
        # The counts came from both workers' files (the master counts nothing).
        writers = {p.stem.rsplit("_", 1)[1] for p in Path(metrics_dir).glob("counter_*.db")}
        assert len(writers) == 2, writers


def test_the_keyword_table_served_is_named_by_its_sha256(client):
    found = samples(client.get("/metrics").get_data(as_text=True))
    digest = hashlib.sha256((ROOT / "keywords.yaml").read_bytes()).hexdigest()
    assert found["optout_keyword_table_info"] == [({"sha256": digest}, 1)]


def test_each_inbound_message_counts_once_by_outcome_in_one_process(client):
    def counts():
        found = samples(client.get("/metrics").get_data(as_text=True))
        return (total(found, "optout_inbound_total", channel="sms", decision="opt_out"),
                total(found, "optout_inbound_total", channel="sms", decision="duplicate"),
                total(found, "optout_consent_changes_total", channel="sms", action="opt_out"),
                total(found, "optout_request_seconds_count", route=SMS_ROUTE))

    before = counts()
    params = twilio_params("STOP", sender="+14155550142")
    twilio_post(client, params)
    twilio_post(client, params)  # a provider's retry: counted, as a duplicate, and changes nothing
    assert [after - was for after, was in zip(counts(), before, strict=True)] == [1, 1, 1, 2]


def test_the_database_down_is_a_figure_not_a_failed_scrape(client, db):
    with table_missing(db, "outbox"):
        response = client.get("/metrics")
    found = samples(response.get_data(as_text=True))
    assert response.status_code == 200
    assert found["optout_database_up"] == [({}, 0)] and "optout_queue_depth" not in found


@pytest.mark.parametrize("header, status", [
    (None, 401),
    ("Bearer wrong-token", 401),
    ("Basic bWV0cmljcy10b2tlbg==", 401),
    ("Bearer metrics-token", 200),
])
def test_metrics_token_asks_for_the_bearer_token(make_app, settings, header, status):
    client = make_app({**settings, "METRICS_TOKEN": "metrics-token"}).test_client()
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == status
    assert ("optout_database_up" in response.get_data(as_text=True)) == (status == 200)


def test_without_metrics_token_metrics_are_open(client):
    assert client.get("/metrics").status_code == 200


def test_the_sample_dashboard_and_alert_rules_read_metrics_the_service_exposes(client):
    """docs/monitoring/ names only metrics /metrics has (a rename would leave the dashboard blank)."""
    twilio_post(client, twilio_params("STOP", sender="+14155550143"))  # a sample in each labelled metric
    exposed = set(samples(client.get("/metrics").get_data(as_text=True)))
    dashboard = json.loads((ROOT / "docs" / "monitoring" / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((ROOT / "docs" / "monitoring" / "prometheus-alerts.yml").read_text())
    expressions = ([t["expr"] for p in dashboard["panels"] for t in p["targets"]]
                   + [r["expr"] for g in rules["groups"] for r in g["rules"]])
    named = {name for expr in expressions for name in re.findall(r"\boptout_\w+", expr)}
    assert len([r for g in rules["groups"] for r in g["rules"]]) == 2
    assert named and named <= exposed, named - exposed


@pytest.mark.backends("sqlite", "postgresql")
def test_the_queue_gauge_counts_what_waits_in_each_queue(make_app, settings, db):
    client = make_app({**settings, **EMAIL_SETTINGS, "SENDGRID_API_KEY": "SG.key"}).test_client()
    for n in range(3):
        raw = (f"From: person{n}@example.org\r\nTo: news@acme.example\r\nSubject: Re: sale\r\n"
               f"Message-ID: <q{n}@example.org>\r\n\r\nunsubscribe\r\n").encode()
        assert client.post("/webhooks/email/mime", data=raw, content_type="message/rfc822",
                           headers={"Authorization": "Basic " + BASIC}).status_code == 200
    db.execute("UPDATE outbox SET sent_at = created_at WHERE address = 'person0@example.org'")
    db.commit()
    waiting = {queue: db.execute(f"SELECT count(*) FROM {table} WHERE sent_at IS NULL AND failed_at IS NULL")
               .fetchone()[0] for queue, table in (("confirmation_emails", "outbox"),
                                                   ("provider_pushes", "provider_pushes"))}
    assert waiting == {"confirmation_emails": 2, "provider_pushes": 3}  # one sent; each opt-out pushed to SendGrid
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert dict((labels["queue"], value) for labels, value in found["optout_queue_depth"]) == {
        **waiting, "consent_webhooks": 0}
