"""The README's first hour, run as written: the walkthrough's commands against the Procfile's gunicorn,
and a default start (make run's honcho, nothing configured) that logs no ERROR."""

import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import HANG, ROOT, free_port, serve, wait_until

README = (ROOT / "README.md").read_text()
BIN = str(Path(sys.executable).parent)
WAITING = "confirmations will wait in the outbox until MAIL_FROM and SMTP_URL are set"


def walkthrough_steps() -> list[tuple[str, str]]:
    """(commands, expected output) in README order: in each ```sh block of "Try it without a Twilio
    account", a run of command lines and the `# ` lines right after them (`...` matches anything)."""
    section = README.split("## Try it without a Twilio account", 1)[1].split("\n## ", 1)[0]
    steps = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        commands, output = [], []
        for line in block.splitlines():
            if line.startswith("#"):
                output.append(line[2:])
                continue
            if output:
                steps.append(("\n".join(commands), "\n".join(output)))
                commands, output = [], []
            commands.append(line)
        steps.append(("\n".join(commands), "\n".join(output)))
    return steps


def test_the_readme_has_a_walkthrough_with_each_keyword():
    commands = " ".join(c for c, _ in walkthrough_steps())
    for word in ('"STOP"', '"UNSUBSCRIBE SURVEYS"', '"START"', '"HELP"', "curl", "simulate-email"):
        assert word in commands, word


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    secrets = {"INBOUND_EMAIL_USER": "inbound", "INBOUND_EMAIL_PASSWORD": "walkthrough-password",
               "UNSUBSCRIBE_SECRET": "walkthrough-secret", "PUBLIC_BASE_URL": ""}
    with serve(tmp_path, **secrets) as (base, env):
        origin = base.removeprefix("http://")
        for commands, expected in walkthrough_steps():
            script = commands.replace(".venv/bin/", BIN + "/").replace("127.0.0.1:8000", origin)
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=HANG)
            assert run.returncode == 0, (commands, run.stderr)
            wanted = re.escape(expected.replace("127.0.0.1:8000", origin)).replace(re.escape("..."), ".+")
            assert re.fullmatch(wanted, run.stdout.strip()), (commands, run.stdout)


def test_a_default_start_logs_no_error(tmp_path):
    """What `make run` starts (honcho, the Procfile's web and worker) with no setting at all."""
    port = free_port()
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "PORT": str(port), "BIND_ADDRESS": "127.0.0.1",
           "DATABASE_PATH": str(tmp_path / "default.sqlite3")}
    migrate = subprocess.run([f"{BIN}/flask", "--app", "app", "migrate"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=HANG)
    assert migrate.stdout.startswith(f"database {tmp_path / 'default.sqlite3'}: created the schema"), migrate
    honcho = subprocess.Popen([f"{BIN}/honcho", "start", "--no-colour", "web", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in honcho.stdout])
    reader.start()

    def serving():
        assert honcho.poll() is None, "the service stopped:\n" + "".join(lines)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=HANG):
                return True
        except (urllib.error.URLError, ConnectionError):
            return False
    try:
        wait_until(serving, "the service serving")
        # Until the worker has said what its first look at the outbox found (what it said is checked below).
        wait_until(lambda: honcho.poll() is not None or any(
            "mail worker:" in line and "mail worker: started" not in line for line in lines),
            "the mail worker's first look at the outbox")
    finally:
        os.killpg(honcho.pid, 15)
        honcho.wait(timeout=HANG)
        reader.join(HANG)
    output = "".join(lines)
    assert f"Listening at: http://127.0.0.1:{port}" in output
    assert WAITING in output
    errors = [line for line in output.splitlines() if re.search(r"\bERROR\b|\[ERROR\]|Traceback", line)]
    assert errors == [], output


@pytest.mark.parametrize("fresh, said", [(True, "created the schema"), (False, "schema up to date (nothing to apply)")])
def test_migrate_says_what_it_did(tmp_path, fresh, said):
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "DATABASE_PATH": str(tmp_path / "m.sqlite3")}
    if not fresh:
        subprocess.run([f"{BIN}/flask", "--app", "app", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    result = subprocess.run([f"{BIN}/flask", "--app", "app", "migrate"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=HANG)
    assert said in result.stdout, result
