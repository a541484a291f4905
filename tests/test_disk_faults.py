"""A full or read-only disk: webhooks answer 5xx (the provider retries), /healthz says unhealthy,
nothing is acknowledged; when the fault goes, the service recovers by itself."""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from conftest import twilio_params, twilio_post
from test_api import HEALTH_ERROR

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


def test_a_full_disk_refuses_to_acknowledge_and_recovers(client, disk, caplog):
    assert answered(twilio_post(client, twilio_params("STOP", sender="+14155550401")))
    filler = fill(disk)
    stops = [twilio_params("STOP", sender=f"+141555505{i:02d}") for i in range(30)]
    statuses = [twilio_post(client, p).status_code for p in stops]
    refused = [p for p, status in zip(stops, statuses, strict=True) if status != 200]
    assert refused and all(status in (200, 500) for status in statuses)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["error"] == HEALTH_ERROR
    assert "the database's disk is full" in caplog.text

    os.remove(filler)
    assert client.get("/healthz").status_code == 200
    for params in refused:  # Twilio's retries
        response = twilio_post(client, params)
        assert response.status_code == 200 and answered(response)
    stored = {r[0] for r in consent_rows(str(disk / "optout.sqlite3"))}
    assert {p["From"] for p in stops} | {"+14155550401"} == stored


@pytest.fixture
def immutable(tmp_path):
    """chattr +i / -i on the database's files (ext4 and root); skips where that is not possible."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("needs root and a file system with chattr +i (ext4) to make a file unwritable")
    subprocess.run(["chattr", "-i", str(probe)], check=True)

    def set_immutable(paths, on):
        for path in paths:
            if os.path.exists(path):
                subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)
    return set_immutable


def test_an_unwritable_database_refuses_to_acknowledge_and_recovers(settings, immutable, caplog):
    app = create_app(settings)
    client = app.test_client()
    path = settings["DATABASE_PATH"]
    files = [path, path + "-wal"]  # not -shm: it is memory-mapped, and a write to it would crash (SIGBUS)
    assert answered(twilio_post(client, twilio_params("STOP", sender="+14155550701")))
    params = twilio_params("STOP", sender="+14155550702")
    immutable(files, True)
    try:
        response = twilio_post(client, params)
        assert response.status_code == 500 and b"<Message>" not in response.data
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["error"] == HEALTH_ERROR
        assert "the last write failed" in caplog.text
    finally:
        immutable(files, False)
    assert client.get("/healthz").status_code == 200  # recovered by itself
    assert answered(twilio_post(client, params))  # Twilio's retry
    assert len(consent_rows(path)) == 2
    app.extensions["optout"].store.close()
