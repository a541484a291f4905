"""A full or read-only disk: webhooks answer 5xx (the provider retries), /healthz says unhealthy,
nothing is acknowledged; when the fault goes, the service recovers by itself."""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import twilio_params, twilio_post

from app import create_app


@pytest.fixture
def disk(tmp_path):
    """A 4 MiB file system of our own (tmpfs), so that filling it hurts nothing else. Needs root."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs root to mount a small tmpfs: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.fixture
def client(settings, disk):
    app = create_app({**settings, "DATABASE_PATH": str(disk / "optout.sqlite3")})
    yield app.test_client()
    app.extensions["optout"].store.close()


def fill(path):
    """Write until the disk refuses; returns the filler file."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def answered(response):
    return [m.text for m in ET.fromstring(response.data).iter("Message")]


def consent_rows(settings_path):
    import sqlite3
    conn = sqlite3.connect(settings_path)
    try:
        return conn.execute("SELECT address FROM consent").fetchall()
    finally:
        conn.close()


def test_a_full_disk_refuses_to_acknowledge_and_recovers(client, disk):
    assert answered(twilio_post(client, twilio_params("STOP", sender="+14155550401")))
    filler = fill(disk)
    stops = [twilio_params("STOP", sender=f"+141555505{i:02d}") for i in range(30)]
    statuses = [twilio_post(client, p).status_code for p in stops]
    refused = [p for p, status in zip(stops, statuses, strict=True) if status != 200]
    assert refused and all(status in (200, 500) for status in statuses)
    health = client.get("/healthz")
    assert health.status_code == 503 and "full" in health.json["error"]

    os.remove(filler)
    assert client.get("/healthz").status_code == 200
    for params in refused:  # Twilio's retries
        response = twilio_post(client, params)
        assert response.status_code == 200 and answered(response)
    stored = {r[0] for r in consent_rows(str(disk / "optout.sqlite3"))}
    assert {p["From"] for p in stops} | {"+14155550401"} == stored
