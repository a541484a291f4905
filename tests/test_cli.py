"""The command line as an operator meets it: `flask --help` is this project's, every command follows one
style (handlers/commands/style.py), categories by either name, the simulator's country and MMS against the real
gunicorn service, and progress that follows the writing."""

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import HANG, ROOT, serve

from handlers import simulate
from handlers.storage import backfill, imports

pytestmark = pytest.mark.backends("sqlite")
README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA = Path(__file__).parent / "data" / "transfer"


def flask_command(tmp_path, *args, **env):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80",
                                                        "DATABASE_PATH": str(tmp_path / "cli.sqlite3"), **env})


def invoke(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def test_flask_help_opens_with_the_project_and_cuts_no_description(tmp_path):
    shown = flask_command(tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[2].startswith("  Opt-out handler: records the STOP, START and HELP replies")
    assert "A general utility script for Flask applications" not in shown.stdout
    commands = lines[lines.index("Commands:") + 1:]
    assert len(commands) > 20 and not [c for c in commands if c.rstrip().endswith("...")]
    assert [c.split(None, 1)[1] for c in commands if c.split()[0] == "run"] == ["Not here: use make run."]
    tried = flask_command(tmp_path, "run", "--port", "5000")
    assert tried.returncode == 2 and "make run" in tried.stderr


def test_every_command_follows_one_style(app):
    with app.app_context():
        commands = app.cli.commands
    for name, command in commands.items():
        assert command.short_help, name
        options = {o.name: o for o in command.params if isinstance(o, click.Option)}
        assert not any("--address" in o.opts and not o.hidden for o in options.values()), name
        if name == "simulate-sms":  # Twilio's channels, SMS unless told: what the command sends
            assert list(options["channel"].type.choices) == ["sms", "whatsapp", "rcs"], name
        elif "channel" in options:
            assert list(options["channel"].type.choices) == ["sms", "email", "whatsapp", "rcs"], name
            assert options["channel"].default is None, name  # each says what leaving it out means


def test_a_category_is_named_by_its_key_or_as_people_see_it(app, db):
    invoke(app, "import-suppressions", str(DATA / "plain_emails.txt"))
    by_key, by_name = (invoke(app, "export-suppressions", "--category", c) for c in ("promotions", "Promos"))
    assert by_key.exit_code == by_name.exit_code == 0 and by_key.stdout == by_name.stdout
    assert by_key.stdout.count("\n") > 2
    unknown = invoke(app, "export-suppressions", "--category", "lottery")
    assert unknown.exit_code == 1 and "known: promos, surveys, newsletter" in unknown.stderr


@pytest.mark.parametrize("args, channel", [
    (["pat@example.org"], "email"),
    (["+14155550100"], "sms"),
    (["--address", "pat@example.org"], "email"),  # the old form, still understood
    (["pat@example.org", "--category", "promos"], "email"),
])
def test_unsubscribe_link_takes_the_address_and_its_channel(settings, make_app, args, channel):
    app = make_app({**settings, "UNSUBSCRIBE_SECRET": "cli-test-secret", "PUBLIC_BASE_URL": "https://o.example"})
    result = invoke(app, "unsubscribe-link", *args)
    assert result.exit_code == 0, result.output
    link = app.extensions["optout"].store.link_address
    token = re.search(r'"url": "https://o.example/u/([^"]+)"', result.stdout).group(1)
    from handlers.core import links
    link_id, category = links.read("cli-test-secret", token)
    assert link(link_id)[0] == channel and category == ("promotions" if "promos" in args else None)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("served")) as (base, env):
        yield base, env


@pytest.mark.parametrize("args, expected", [
    (["STOP", "--from", "+33612345678", "--country", "FR"], "Vous"),  # STOP is French too: FR picks French
    (["STOP", "--from", "+14155550123"], "You're unsubscribed"),
    (["", "--from", "+14155550124", "--media", "https://example.org/cat.jpg"], "(no reply: nothing is owed)"),
])
def test_the_simulator_sends_a_country_and_a_picture(served, args, expected):
    base, env = served
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "simulate-sms", *args, "--url", base],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("200 reply: ") and expected in done.stdout


def test_an_mms_is_shaped_as_twilio_sends_it():
    request = simulate.sms("http://x", "token", "", "+14155550100", country="fr",
                           media=("https://example.org/a.png", "https://example.org/b"))
    body = request.body.decode()
    assert "MessageSid=MM" in body and "NumMedia=2" in body and "FromCountry=FR" in body
    assert "MediaContentType0=image%2Fpng" in body and "MediaUrl1=https%3A%2F%2Fexample.org%2Fb" in body


def test_the_quick_start_lists_what_every_simulated_provider_needs():
    start = README.index("# then in .env:")
    quick = README[start:README.index("make run", start)]
    for provider in simulate.EMAIL_PROVIDERS:
        for name in simulate.settings_needed(provider):
            assert f"# {name}=" in quick, (provider, name)


def test_the_imports_progress_follows_what_is_written(app, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "_IMPORT_CHUNK", 4000)
    store = app.extensions["optout"].store
    path = tmp_path / "list.txt"
    path.write_text("".join(f"person{n}@example.org\n" for n in range(12_000)))
    seen = []

    def progress(n):
        written = store.connection().execute("SELECT count(*) FROM consent").fetchone()[0]
        seen.append((n, written))
    with open(path, "rb") as raw:
        imports.import_suppressions(store, raw, None, "US", progress)
    # The bar moves as addresses are written, never ahead of them: read ahead, it stood still through
    # each long write with an ETA of 00:00:00.
    size, reported = path.stat().st_size, 0
    for n, written in seen:
        reported += n
        assert reported / size <= written / 12_000, (reported, written)
    assert len(seen) >= 2 and reported == size


def test_the_backfill_shows_its_writing(app, monkeypatch):
    monkeypatch.setattr(backfill, "_WRITE_STEP", 3)
    store, table = app.extensions["optout"].store, app.extensions["optout"].keywords
    steps = []
    with open(DATA / "twilio_messages.csv", "rb") as raw:
        report = backfill.backfill_twilio(store, raw, table, "US", writing=lambda done, total: steps.append(
            (done, total)))
    total = steps[-1][1]
    assert total >= report.recorded > 3 and steps[-1][0] == total
    assert [done for done, _ in steps] == sorted({done for done, _ in steps}) and len(steps) >= total // 3
