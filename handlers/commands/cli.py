"""Commands for operators: flask migrate, check-keywords, classify, mail-worker, simulate-sms,
pull-suppressions ...

Every command follows one style, written out in handlers/commands/style.py (with the parts they share):
the address (or file, text) positional, --channel sms|email inferred when left out, --category by key
or name, a short_help that fits `flask --help`, {n:,} counts, progress bars that follow the writing.
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict

import click
from flask import Flask

from .. import simulate
from ..core import links
from ..core.brands import FIRST
from ..core.classifier import classify, explain
from ..core.consent_webhooks import ConsentWebhookError
from ..core.keyword_file import KeywordFileError, load_keywords
from ..core.keyword_lint import warnings as keyword_warnings
from ..core.personal_data import retention_days
from ..core.text import sms_encoding, sms_segments
from ..core.understanding import with_model
from ..email import outbox
from ..providers.http_api import MAX_PAGES, ApiError
from ..settings import local_origin
from ..storage import audit, backfill, deliveries, export, imports
from ..storage.bulk import TransferError
from ..storage.copy import copy_database as copy_rows
from ..storage.database import StoreError
from ..storage.retention import DailyPrune
from ..storage.schema import MIGRATIONS
from ..storage.store import Store
from ..sync import clients as provider_clients
from ..sync import consent_webhooks, pull, push, sms_outbox
from ..web.context import services
from . import backup, personal_data, team
from .brands import brand_option, stored_brand
from .style import PhaseBar, category_key, channel_of, channel_option, named, present_the_project, read_file


def register(app: Flask) -> None:
    for command in (migrate, check_keywords, classify_command, mail_worker, unsubscribe_link, export_suppressions,
                    import_suppressions, backfill_twilio, copy_database, simulate_sms, simulate_email,
                    pull_suppressions, replay_consent_webhooks, backup.backup,
                    *personal_data.COMMANDS):  # prune, erase, export-person
        app.cli.add_command(command)
    team.register(app)  # operators, API keys and the audit log (handlers/commands/team.py)
    present_the_project(app)


@click.command("migrate", short_help="Create or upgrade the database schema.")
def migrate():
    """Create or upgrade the database schema (safe to run while the service runs)."""
    try:
        store = services().store  # migrates on first use
    except StoreError as e:
        click.echo(f"migrate: {e}", err=True)
        sys.exit(1)
    applied = services().migrated
    if applied and applied[0] == MIGRATIONS[0][0]:
        click.echo(f"database {store.location}: created the schema ({len(applied)} migrations applied: "
                   f"{', '.join(applied)})")
    elif applied:
        click.echo(f"database {store.location}: applied {len(applied)} migration{'s' * (len(applied) > 1)} "
                   f"({', '.join(applied)}); schema up to date")
    else:
        click.echo(f"database {store.location}: schema up to date (nothing to apply)")


@click.command("check-keywords", short_help="Check keywords.yaml; name each problem.")
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
               f"{len(table.categories)} categories ({', '.join(named(table, c) for c in table.categories)}), "
               f"{len(table.entries)} keywords, {len(table.phrases)} phrases, "
               f"{sum(map(len, table.request_verbs.values()))} request verbs and wants, "
               f"{len(table.in_sentence)} stop words read with their neighbours")
    unsure = {"opt_out": "opted out and flagged for review", "ask": "asked first by SMS (at most once a day), "
              "flagged for review; by email opted out"}
    click.echo(f"  unsure messages (ambiguous: {table.ambiguous}): {unsure[table.ambiguous]}")
    started = time.monotonic()
    model = with_model(table, services().settings.get("MODEL_CACHE_DIR")).model
    click.echo(f"  trained model: {len(table.examples)} examples of this file's own, {len(model.vocabulary):,} "
               f"features, {', '.join(model.labels)}; ready in {time.monotonic() - started:.1f} s (read from "
               "MODEL_CACHE_DIR, or trained now and kept there for the service)")
    for code, lang in table.languages.items():
        for kind in lang.replies.get("sms", {}):
            text = table.render("sms", kind, code, table.categories)
            encoding, length = sms_encoding(text)
            segments = sms_segments(text)
            click.echo(f"  {code} {kind:<20} {encoding} {length:>3} chars, {segments} segment{'s' * (segments > 1)}")
    for provider, lists in table.provider_lists.items():
        if lists:
            click.echo(f"  {provider} lists: " + ", ".join(f"{key} -> {category}" for key, category in lists.items()))
    if table.brands.brands:
        click.echo(f"  brands (opt_out_scope: {table.brands.opt_out_scope}): "
                   + ", ".join(f"{b.key} ({b.name})" for b in table.brands.brands))
    for warning in keyword_warnings(table):
        click.echo(f"warning: {warning}", err=True)


@click.command("classify", short_help="Show the decision the service would make for TEXT.")
@click.argument("text")
@channel_option("sms, email, whatsapp or rcs; left out: sms (a text has no address to tell).")
@click.option("--country", default=None, help="The sender's country (two letters, as Twilio's FromCountry).")
def classify_command(text, channel, country):
    """Print the decision the service would make for TEXT, as JSON: which stage decided (the keyword
    table or the trained model) and, for the model, how sure it was."""
    try:
        table = services().keywords
    except KeywordFileError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    decision = classify(text, table, country.upper() if country else None)
    explained = {"channel": channel or "sms", "why": explain(decision), **asdict(decision), "stage": decision.stage}
    click.echo(json.dumps(explained, ensure_ascii=False, indent=2))


@click.command("mail-worker", short_help="Send confirmations, push opt-outs (the worker).")
@click.option("--once", is_flag=True, help="Send what is due now and exit.")
def mail_worker(once):
    """Send queued confirmation emails over SMTP_URL (and reviewers' text messages through Twilio) and push
    opt-outs to the configured providers' suppression lists, each retried with backoff (the Procfile's
    worker); prune old messages' text daily (MESSAGE_RETENTION_DAYS)."""
    settings, store = services().settings, services().store
    clients = provider_clients.make_clients(settings)
    daily_prune = DailyPrune(store, retention_days(settings.get("MESSAGE_RETENTION_DAYS")))
    logger = logging.getLogger("optout.mail")
    deliver_step = consent_webhook_step(settings, store, logger)
    page_link = links.page_link_maker(settings.get("UNSUBSCRIBE_SECRET"), settings.get("PUBLIC_BASE_URL"),
                                      settings["DEFAULT_REGION"], store.link_id)

    def push_step():
        deliver_step()  # first: a receiver hears of a STOP within a second or two
        texted = sms_outbox.send_due_sms(store, settings.get("TWILIO_AUTH_TOKEN"))
        if any(texted.values()):
            logger.info("mail worker: texted %(sent)d, will retry %(retry)d, gave up on %(failed)d", texted)
        return push.push_due(store, clients, services().keywords) if clients else None

    if once:
        pushed = push_step()
        if pushed:
            click.echo(f"pushed {pushed['pushed']}, will retry {pushed['retry']}, gave up on {pushed['failed']}")
        try:
            counts = outbox.send_due(store, settings["SMTP_URL"], settings["MAIL_FROM"], page_link=page_link)
        except outbox.MailConfigError as e:
            click.echo(f"mail-worker: {e}", err=True)
            sys.exit(1)
        click.echo(f"sent {counts['sent']}, will retry {counts['retry']}, gave up on {counts['failed']}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    logger.info("mail worker: started (database %s; pushing to %s)", store.location,
                ", ".join(clients) or "no provider")

    def prune_and_push():
        try:
            pruned = daily_prune()
        except StoreError as e:
            logger.error("mail worker: pruning old messages waits (tried again in an hour): %s", e)
        else:
            if pruned:
                logger.info("mail worker: pruned the text of %(messages)d messages and %(confirmations)d sent "
                            "confirmations (older than MESSAGE_RETENTION_DAYS)", pruned)
        return push_step()

    outbox.run_worker(store, settings["SMTP_URL"], settings["MAIL_FROM"], logger, stop=lambda: bool(stopping),
                      also=prune_and_push, page_link=page_link)


def consent_webhook_step(settings, store, logger):
    """The mail worker's delivery of consent webhooks: logs what it did, and a configuration or database
    problem once (the rows wait in consent_webhooks until it is fixed), never raising."""
    said = []

    def step():
        if not (settings.get("CONSENT_WEBHOOK_URLS") or settings.get("CONSENT_WEBHOOK_SECRET")):
            return
        try:
            counts = consent_webhooks.deliver_due(store, settings.get("CONSENT_WEBHOOK_SECRET"))
        except (ConsentWebhookError, StoreError) as e:
            if str(e) not in said:
                logger.error("mail worker: consent webhooks wait: %s", e)
                said.append(str(e))
            return
        if any(counts.values()):
            logger.info("mail worker: consent webhooks delivered %(delivered)d, will retry %(retry)d, "
                        "gave up on %(failed)d", counts)

    return step


@click.command("replay-consent-webhooks", short_help="Queue consent webhooks again, --since a date.")
@click.option("--since", required=True, help="A date (2026-03-01, UTC) or an ISO time: replay changes from then on.")
def replay_consent_webhooks(since):
    """Queue again, for every receiver in CONSENT_WEBHOOK_URLS, each change of consent recorded since
    --since, with the webhook id it was first sent with; the mail worker delivers them."""
    settings, store = services().settings, services().store
    try:
        start = deliveries.since_of(since)
    except ValueError:
        click.echo(f"--since {since!r}: give a date as 2026-03-01 or an ISO time", err=True)
        sys.exit(2)
    if not store.webhook_to:
        click.echo("CONSENT_WEBHOOK_URLS is not set: there is nobody to replay to", err=True)
        sys.exit(1)
    queued = deliveries.replay(store, store.webhook_to, start)
    click.echo(f"queued {queued:,} consent webhooks since {start} for {len(store.webhook_to)} receiver"
               f"{'s' * (len(store.webhook_to) > 1)}; the mail worker delivers them")
    if not settings.get("CONSENT_WEBHOOK_SECRET"):
        click.echo("CONSENT_WEBHOOK_SECRET is not set: they wait until it is", err=True)


@click.command("unsubscribe-link", short_help="Print the unsubscribe link of ADDRESS.")
@click.argument("address", required=False)
@channel_option()
@click.option("--category", default=None, help="Unsubscribe from this category only (its key or its name).")
@click.option("--address", "old_address", default=None, hidden=True)  # before ADDRESS was an argument
@brand_option("The brand whose messages the link stops (default: the first)")
def unsubscribe_link(address, channel, category, old_address, brand):
    """Print the unsubscribe URL and List-Unsubscribe headers for ADDRESS, as JSON (under PUBLIC_BASE_URL,
    else the local http://127.0.0.1:$PORT)."""
    address = address or old_address
    if not address:
        raise click.UsageError("give the ADDRESS: flask unsubscribe-link pat@example.org")
    channel, category = channel_of(channel, address), category_key(category)
    base = services().settings["PUBLIC_BASE_URL"]
    if not base:
        base = local_origin()
        click.echo(f"PUBLIC_BASE_URL is not set: this link points at {base}, where make run serves; set it to "
                   "the public origin (https://optout.example.com) before sending links to anyone", err=True)
    stored, store = stored_brand(brand) or FIRST, services().store
    try:
        settings = services().settings
        link = links.links_for(channel, address, category, base, secret=settings["UNSUBSCRIBE_SECRET"],
                               region=settings["DEFAULT_REGION"], categories=services().keywords.categories,
                               link_id=lambda c, a: store.link_id(c, a, stored))
    except (ValueError, LookupError) as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(json.dumps(link, indent=2))


@click.command("export-suppressions", short_help="Write every suppressed address (CSV or JSON).")
@channel_option("Only this channel; left out: all.")
@click.option("--category", default=None, help="Who must not get this category (its key or its name); "
                                               "left out: who opted out of everything.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--output", type=click.File("w", encoding="utf-8", lazy=False), default="-",
              help="Write here instead of standard output.")
@brand_option("Who must not get this brand's messages (default: who any brand must not message)")
def export_suppressions(channel, category, fmt, output, brand):
    """Write every suppressed address: CSV channel,address,scope,since, or one JSON array of objects."""
    category = category_key(category)
    counted = [0]

    def count(rows):
        for row in rows:
            counted[0] += 1
            yield row

    rows = export.suppressions(services().store, channel, category, stored_brand(brand))
    with click.progressbar(count(rows), label="exporting", show_pos=True, update_min_steps=5000,
                           file=sys.stderr) as bar:
        for chunk in export.export_chunks(bar, fmt):
            output.write(chunk)
    output.flush()
    audit.record(services().store, team.entry("export", f"suppressions: channel {channel or 'all'}, category "
                                                        f"{category or 'everything'}, {fmt}: {counted[0]:,} rows"))
    click.echo(f"exported {counted[0]:,} suppressed addresses", err=True)


@click.command("import-suppressions", short_help="Record the addresses in FILE as opted out.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@channel_option("For a plain list; left out: its first line's (an @ is email). A provider's export is email.")
@brand_option("Whose opt-outs they are (default: the first brand's)")
def import_suppressions(file, channel, brand):
    """Record each address in FILE as opted out of everything: a plain list (one address a line) or the
    CSV export of SendGrid global unsubscribes, Mailgun unsubscribes or Postmark suppressions."""
    settings, store = services().settings, services().store
    stored = stored_brand(brand) or FIRST
    report = read_file(file, "importing", lambda raw, progress: imports.import_suppressions(
        store, raw, channel, settings["DEFAULT_REGION"], progress, brand=stored))
    audit.record(store, team.entry("import", f"{report.format} list of {report.channel} addresses: {report.lines} "
                                             f"read, {report.imported} imported, {len(report.invalid)} invalid"))
    for number, text, reason in report.invalid:
        click.echo(f"line {number}: {text!r}: {reason}")
    click.echo(f"{file}: {report.format} list of {report.channel} addresses: {report.lines:,} addresses read, "
               f"{report.imported:,} imported, {report.duplicates:,} duplicates, "
               f"{report.already:,} already opted out, {len(report.invalid):,} invalid, "
               f"{report.bounces:,} hard bounces skipped (no one's choice), "
               f"{report.erased:,} erased here (kept suppressed, nothing recorded)")


@click.command("backfill-twilio", short_help="Record the opt-outs in a Twilio message log CSV.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def backfill_twilio(file):
    """Record the opt-outs and opt-ins in a Twilio message-log CSV that were never recorded here, in
    SentDate order, as the webhook would have (nothing is sent)."""
    settings, store, table = services().settings, services().store, services().keywords
    with PhaseBar("writing") as writing:
        report = read_file(file, "reading", lambda raw, progress: backfill.backfill_twilio(
            store, raw, table, settings["DEFAULT_REGION"], progress, writing))
    for number, problem in report.problems:
        click.echo(f"line {number}: {problem}")
    click.echo(f"{file}: {report.read:,} rows read, {report.inbound:,} inbound, {report.already:,} already recorded; "
               f"recorded {report.recorded:,}: {report.opt_outs:,} opt-outs, {report.opt_ins:,} opt-ins, "
               f"{report.help:,} help, {report.none:,} none, {report.superseded:,} older than a decision "
               f"recorded here (not acted on); {report.erased:,} from people erased here (not recorded)")


@click.command("copy-database", short_help="Copy every table from SOURCE to TARGET.")
@click.argument("source")
@click.argument("target")
@click.option("--overwrite", is_flag=True, help="Replace what TARGET holds (by default a target with data is refused).")
def copy_database(source, target, overwrite):
    """Copy every table, with its history, from SOURCE to TARGET: each a sqlite:///path (sqlite:////abs/path)
    or a postgresql:// URL. Both are migrated first; prints the row counts of both at the end."""
    try:
        origin, destination = Store(source), Store(target)
        copied = {}

        def progress(table, rows):
            copied[table] = copied.get(table, 0) + rows
            click.echo(f"\r{table}: {copied[table]:,} rows", nl=False, err=True)

        before, after = copy_rows(origin, destination, overwrite, progress)
    except (StoreError, TransferError) as e:
        click.echo(f"\ncopy-database: {e}", err=True)
        sys.exit(1)
    click.echo("", err=True)
    click.echo(f"{'table':<16} {'source':>12} {'target':>12}")
    for table in before:
        click.echo(f"{table:<16} {before[table]:>12,} {after[table]:>12,}")
    origin.close()
    destination.close()
    if before != after:
        click.echo("the row counts differ: the copy is incomplete", err=True)
        sys.exit(1)


URL_HELP = "The running service (default: PUBLIC_BASE_URL, else http://127.0.0.1:$PORT)."


@click.command("simulate-sms", short_help="Send a text to the running service, as Twilio.")
@click.argument("body")
@click.option("--from", "sender", default="+14155550100", show_default=True, help="The sender's number.")
@click.option("--country", default=None, help="The sender's country as Twilio gives it (FromCountry: FR, MX), "
                                              "which picks the reply's language for a word shared by several.")
@click.option("--media", multiple=True, metavar="URL", help="Send an MMS with this picture (repeatable).")
@click.option("--url", default=None, help=URL_HELP)
@click.option("--channel", type=click.Choice(simulate.SMS_CHANNELS), default="sms", show_default=True,
              help="Which Twilio channel the text comes on (whatsapp:+..., rcs:+...).")
@click.option("--button", default=None, metavar="PAYLOAD", help="A tapped button's payload; BODY is its text.")
def simulate_sms(body, sender, country, media, url, channel, button):
    """Send BODY to the running service as Twilio would (signed with TWILIO_AUTH_TOKEN); print the reply."""
    settings = services().settings
    if not settings["TWILIO_AUTH_TOKEN"]:
        click.echo("TWILIO_AUTH_TOKEN is not set: the service refuses unsigned SMS webhooks (set it in .env)",
                   err=True)
        sys.exit(1)
    request = simulate.sms(url or settings["PUBLIC_BASE_URL"] or local_origin(), settings["TWILIO_AUTH_TOKEN"],
                           body, sender, channel=channel, button=button, country=country, media=media)
    status, answer = _post(request)
    if status == 200:
        message = ElementTree.fromstring(answer).find("Message")
        answer = message.text if message is not None else "(no reply: nothing is owed)"
    click.echo(f"{status} reply: {answer}")


@click.command("simulate-email", short_help="Send an email reply to the running service.")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--text", default=None, help="The reply's text (instead of FILE, a raw RFC 5322 message).")
@click.option("--from", "sender", default="pat@example.org", show_default=True, help="The sender (with --text).")
@click.option("--provider", type=click.Choice(simulate.EMAIL_PROVIDERS), default="mime", show_default=True)
@click.option("--url", default=None, help=URL_HELP)
def simulate_email(file, text, sender, provider, url):
    """Send an email reply (FILE or --text) to the running service as PROVIDER would; print the answer.
    An opt-in by email needs SPF or DKIM to pass, which only a FILE with such headers shows."""
    if (file is None) == (text is None):
        click.echo("give either FILE (a raw message) or --text TEXT", err=True)
        sys.exit(2)
    settings = services().settings
    needs = simulate.settings_needed(provider)
    missing = [name for name in needs if not settings[name]]
    if missing:
        click.echo(f"{' and '.join(missing)} not set: the service refuses {provider} webhooks (set them in .env)",
                   err=True)
        sys.exit(1)
    if file:
        with open(file, "rb") as f:
            raw = f.read()
    else:
        raw = simulate.reply_message(text, sender)
    status, answer = _post(simulate.email_reply(provider, url or settings["PUBLIC_BASE_URL"] or local_origin(),
                                                raw, settings))
    click.echo(f"{status} {answer}")


def _post(request: simulate.SimulatedRequest) -> tuple[int, str]:
    """(status, body) of POSTing `request`; exit 1 saying so if nothing answers at its URL."""
    try:
        with urllib.request.urlopen(urllib.request.Request(request.url, data=request.body, headers=request.headers),
                                    timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError) as e:
        click.echo(f"nothing answers at {request.url} ({getattr(e, 'reason', e)}): is the service running "
                   "(make run), or give --url", err=True)
        sys.exit(1)


@click.command("pull-suppressions", short_help="Record a provider's suppression lists here.")
@click.argument("provider", type=click.Choice(provider_clients.PROVIDERS))
@click.option("--max-pages", type=click.IntRange(min=1), default=MAX_PAGES, show_default=True,
              help="Stop after this many pages of a list (a provider that never stops answering full pages).")
def pull_suppressions(provider, max_pages):
    """Page through PROVIDER's unsubscribe / suppression lists and record what is missing here (its
    account-wide list as opted out of everything; a list mapped in keywords.yaml as its category).
    Paging links are followed only to the provider's own API origin."""
    settings, store, table = services().settings, services().store, services().keywords
    client = provider_clients.make_clients(settings).get(provider)
    if client is None:
        click.echo(f"{provider} is not configured: set its API credentials (README, Configuration)", err=True)
        sys.exit(1)
    lists = table.lists_of(provider, ())  # every mapped list, besides the account-wide one
    try:
        with click.progressbar(client.suppressed(lists, max_pages), label=f"reading {provider}", show_pos=True,
                               file=sys.stderr) as rows:
            report = pull.pull_suppressions(store, client, table, rows)
    except ApiError as e:
        click.echo(f"\npull-suppressions: {e}; what the pages before said is recorded, nothing after", err=True)
        sys.exit(1)
    for address, reason in report.invalid:
        click.echo(f"{address!r}: {reason}")
    click.echo(f"{provider}: {report.read:,} suppressions read, {report.everything:,} recorded as opted out of "
               f"everything, {report.categories:,} of a category, {report.already:,} already recorded, "
               f"{report.erased:,} erased here (kept suppressed), "
               f"{len(report.invalid):,} invalid")
