"""Commands for operators: flask migrate, check-keywords, classify, mail-worker."""

from __future__ import annotations

import json
import logging
import signal
import sys
from dataclasses import asdict

import click
from flask import Flask

from . import mailer
from .api import links_for
from .classifier import classify
from .keywords import KeywordFileError, load_keywords
from .keywords import warnings as keyword_warnings
from .services import services
from .text import sms_encoding, sms_segments


def register(app: Flask) -> None:
    app.cli.add_command(migrate)
    app.cli.add_command(check_keywords)
    app.cli.add_command(classify_command)
    app.cli.add_command(mail_worker)
    app.cli.add_command(unsubscribe_link)


@click.command("migrate")
def migrate():
    """Create or upgrade the database schema (safe to run while the service runs)."""
    store = services().store  # migrates on first use
    click.echo(f"database {store.path}: schema up to date")


@click.command("check-keywords")
@click.argument("path", required=False)
def check_keywords(path):
    """Validate keywords.yaml (or PATH); exit 1 and name each problem if it is broken."""
    path = path or services().settings["KEYWORDS_PATH"]
    try:
        table = load_keywords(path)
    except KeywordFileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(f"{path}: OK: {len(table.languages)} languages ({', '.join(table.languages)}), "
               f"{len(table.categories)} categories ({', '.join(table.categories)}), "
               f"{len(table.entries)} keywords, {len(table.phrases)} phrases")
    for code, lang in table.languages.items():
        for kind in lang.replies.get("sms", {}):
            text = table.render("sms", kind, code, table.categories)
            encoding, length = sms_encoding(text)
            segments = sms_segments(text)
            click.echo(f"  {code} {kind:<20} {encoding} {length:>3} chars, {segments} segment{'s' * (segments > 1)}")
    for warning in keyword_warnings(table):
        click.echo(f"warning: {warning}", err=True)


@click.command("classify")
@click.argument("text")
@click.option("--channel", type=click.Choice(["sms", "email"]), default="sms", show_default=True)
def classify_command(text, channel):
    """Print the decision the service would make for TEXT, as JSON."""
    try:
        table = services().keywords
    except KeywordFileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    decision = classify(text, table)
    explained = {"channel": channel, "why": WHY.get(decision.rule, decision.rule).format(
        matched=decision.matched, language=decision.language), **asdict(decision)}
    click.echo(json.dumps(explained, ensure_ascii=False, indent=2))


WHY = {
    "reaction": "a phone's reaction quoting our message: never an opt-out",
    "keyword": "the whole message is the keyword {matched!r} ({language})",
    "keyword_with_categories": "the keyword {matched!r} ({language}) followed only by category names",
    "leading_keyword": "starts with the stop word {matched!r} ({language}) and goes on",
    "phrase": "contains the phrase {matched!r} ({language})",
    "stop_word_in_message": "the stop word {matched!r} ({language}) inside a longer message: opted out, flagged",
    "weak_word_in_message": "the weak word {matched!r} ({language}) inside a sentence: no action, flagged",
    "no_match": "no keyword, phrase or reaction: no action, no reply",
}


@click.command("mail-worker")
@click.option("--once", is_flag=True, help="Send what is due now and exit.")
def mail_worker(once):
    """Send queued confirmation emails over SMTP_URL, retrying with backoff (the Procfile's worker)."""
    settings, store = services().settings, services().store
    if once:
        try:
            counts = mailer.send_due(store, settings["SMTP_URL"], settings["MAIL_FROM"])
        except mailer.MailConfigError as e:
            click.echo(f"mail-worker: {e}", err=True)
            sys.exit(1)
        click.echo(f"sent {counts['sent']}, will retry {counts['retry']}, gave up on {counts['failed']}")
        return
    logger = logging.getLogger("optout.mail")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    logger.info("mail worker: started (database %s)", store.path)
    mailer.run_worker(store, settings["SMTP_URL"], settings["MAIL_FROM"], logger, stop=lambda: bool(stopping))


@click.command("unsubscribe-link")
@click.option("--channel", type=click.Choice(["email", "sms"]), default="email", show_default=True)
@click.option("--address", required=True)
@click.option("--category", default=None, help="Unsubscribe from this category only.")
def unsubscribe_link(channel, address, category):
    """Print the unsubscribe URL and List-Unsubscribe headers for ADDRESS, as JSON (uses PUBLIC_BASE_URL)."""
    base = services().settings["PUBLIC_BASE_URL"]
    if not base:
        click.echo("PUBLIC_BASE_URL is not set: links need the public origin, like https://optout.example.com",
                   err=True)
        sys.exit(1)
    try:
        link = links_for(channel, address, category, base)
    except (ValueError, LookupError) as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(json.dumps(link, indent=2))
