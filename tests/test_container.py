"""The Dockerfile installs what make installs and starts what the Procfile starts; compose.yaml runs the
web service, the mail worker and PostgreSQL on a named volume. (No Docker engine runs here: make lint
runs hadolint over the Dockerfile.)"""

import json
import re
import shlex

import yaml
from conftest import ROOT, procfile_line

DOCKERFILE = (ROOT / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def instructions(name: str) -> list[str]:
    """The arguments of each `name` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def pip_requirements(line: str) -> list[str]:
    """The files a pip install line installs from (-r FILE)."""
    words = shlex.split(line)
    return [words[i + 1] for i, word in enumerate(words) if word == "-r"]


def test_the_image_installs_the_lock_file_that_make_installs_for_a_deployment():
    runtime = MAKEFILE.split("$(BIN)/.runtime:", 1)[1].split("\n\n", 1)[0]
    make_installs = [pip_requirements(line) for line in runtime.splitlines() if " install " in line and "-r" in line]
    image_installs = [pip_requirements(line) for line in instructions("RUN") if "pip install" in line]
    assert make_installs == image_installs == [["requirements.lock"]]
    assert "requirements.lock" in instructions("COPY")[0].split()


def test_the_image_starts_the_procfiles_web_line():
    [cmd] = instructions("CMD")
    shell, flag, script = json.loads(cmd)
    assert (shell, flag) == ("sh", "-c")
    assert script == f"exec {procfile_line('web')}"


def test_the_image_runs_as_a_user_of_its_own_from_a_slim_python_and_checks_healthz():
    [base] = instructions("FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base)
    [user] = instructions("USER")
    assert user.split(":")[0] not in ("0", "root")
    [check] = instructions("HEALTHCHECK")
    assert "/healthz" in check


def test_compose_runs_web_worker_and_postgres_on_a_named_volume():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "postgres"}
    assert services["worker"]["command"] == shlex.split(procfile_line("worker"))
    volume = services["postgres"]["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    for name in ("web", "worker"):
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://optout:")
        assert services[name]["build"] == "."
