"""What every command shares, so that they read alike: the channel option, categories by key or display
name, progress bars, and `flask --help` as this project's.

The style every command follows (handlers/commands/style.py holds the shared parts):
- What the command is about is a positional argument (ADDRESS, EMAIL, NAME, FILE, TEXT, BODY,
  PROVIDER); everything else is an --option. `--address` is not an option anywhere (unsubscribe-link
  still accepts it, hidden, for old scripts).
- --channel is style.channel_option(): choices sms, email, whatsapp, rcs in that order; left out,
  the address's own channel (an @ is email, whatsapp:+... and rcs:+... theirs), or for lists what each
  command says (all; the file's).
- --category takes the key or the name people see (promotions or promos): style.category_key.
- Every command has a short_help that fits `flask --help` (tests/test_cli.py fails on a cut one).
- Counts print with thousands separators ({n:,}); a job that may run for minutes shows a
  click.progressbar on stderr that moves with the work done, writing included.
"""

from __future__ import annotations

import os
import sys

import click
from flask import Flask

from ..core.addresses import CHANNELS
from ..core.addresses import channel_of as twilio_channel
from ..storage.bulk import TransferError
from ..web.context import services

DESCRIPTION = """Opt-out handler: records the STOP, START and HELP replies people send to your marketing
texts and emails, answers them, and keeps who may be sent what.

make run serves it (gunicorn and the mail worker, as in production); these commands run beside it,
against the same .env and database. README.md says more about each."""

CHANNEL_HELP = "sms, email, whatsapp or rcs; left out: the address's own (an @ is email, whatsapp:+1... WhatsApp)."


def channel_option(help: str = CHANNEL_HELP):
    """--channel, with the same choices in the same order (sms, email, whatsapp, rcs) everywhere, and no fixed default:
    each command says what leaving it out means."""
    return click.option("--channel", type=click.Choice(CHANNELS), default=None, help=help)


def channel_of(channel: str | None, address: str) -> str:
    """The channel given, else the address's own: an email address has an @, whatsapp:+1... and rcs:+1...
    name theirs, any other number is SMS."""
    return channel or ("email" if "@" in address else twilio_channel(address)[0])


def category_key(name: str | None) -> str | None:
    """The category a --category value names, by its key ("promotions") or as people see it ("promos");
    exit 1 naming the known ones otherwise."""
    if name is None:
        return None
    table = services().keywords
    found = table.category_named(name)
    if found is None:
        known = ", ".join(table.display_name(c) for c in table.categories)
        click.echo(f"unknown category {name!r}; known: {known}", err=True)
        sys.exit(1)
    return found


def read_file(file: str, label: str, job):
    """job(raw file, progress) under a progress bar (on stderr); exit 1 saying why if the file is unusable."""
    with open(file, "rb") as raw, click.progressbar(length=os.path.getsize(file), label=label,
                                                    file=sys.stderr) as bar:
        try:
            return job(raw, bar.update)
        except TransferError as e:
            click.echo(f"\n{file}: {e}", err=True)
            sys.exit(1)


def named(table, category: str) -> str:
    """A category as people see it, with its key in the file when that differs: "promos (promotions)"."""
    shown = table.display_name(category)
    return shown if shown == category else f"{shown} ({category})"


class PhaseBar:
    """A progress bar (on stderr) for a job's later phase, whose size is known only when it starts:
    called with (done, total), it opens on the first call and moves on each."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def __enter__(self) -> PhaseBar:
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, show_pos=True, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@click.command("run", short_help="Not here: use make run.", context_settings={"ignore_unknown_options": True},
               add_help_option=False)
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def run_elsewhere(ignored):
    """Flask's development server is not how this service runs: `make run` starts gunicorn and the
    mail worker (the Procfile), as production does."""
    click.echo("flask run is not used here: run `make run` (gunicorn and the mail worker, as in production)",
               err=True)
    sys.exit(2)


def present_the_project(app: Flask) -> None:
    """Under the `flask` command: its --help opens with this project's description, and its `run` says
    to use make run (Flask's own is found first, and stopped here, as it loads the app). Flask writes
    its own description before it loads the app (which brings these commands), so once loaded the
    page is written again, from the top, with ours."""
    app.cli.add_command(run_elsewhere)
    context = click.get_current_context(silent=True)
    if context is None:
        return
    if context.info_name == "run" and context.command is not run_elsewhere:
        # Flask's own run, found before the app (and ours) was loaded: it is loading us to serve.
        run_elsewhere.callback(())
    root = context.find_root().command
    if not isinstance(root, click.Group) or getattr(root, "_presented", False):
        return
    root.commands.pop("run", None)  # Flask's own, which would win over ours
    root.help, root._presented = DESCRIPTION, True
    epilog = root.format_epilog  # the last part of the page, written after the commands that loaded us

    def format_epilog(ctx, formatter):
        formatter.buffer.clear()
        root.format_usage(ctx, formatter)
        root.format_help_text(ctx, formatter)
        root.format_options(ctx, formatter)
        epilog(ctx, formatter)

    root.format_epilog = format_epilog
