"""Commands for a person's data (README, "Personal data"): flask prune, flask erase, flask export-person.
Registered with the others by handlers/commands/cli.py."""

from __future__ import annotations

import json
import sys

import click

from ..core.addresses import InvalidAddress, normalise
from ..core.personal_data import ErasureKeyError, retention_days
from ..storage import audit
from ..storage.database import StoreError
from ..storage.erasure import erase
from ..storage.person_export import person_export
from ..storage.retention import prune
from ..web.context import services
from .style import channel_of, channel_option
from .team import entry

COMMANDS = []


def command(function):
    COMMANDS.append(function)
    return function


def canonical(channel: str | None, address: str) -> tuple[str, str]:
    """(channel, ADDRESS in its stored form); exit 1 saying why it is not one (the address itself is not
    repeated)."""
    channel = channel_of(channel, address)
    try:
        return channel, normalise(channel, address, services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        click.echo(f"not a {channel} address: {e}", err=True)
        sys.exit(1)


@command
@click.command("prune", short_help="Remove old messages' text now.")
@click.option("--older-than", "days", type=click.IntRange(min=0), default=None,
              help="Days (0 allowed: everything); default MESSAGE_RETENTION_DAYS.")
def prune_command(days):
    """Remove now the text, HTML, headers and provider parameters of messages received more than DAYS days
    ago (and what sent confirmation emails still hold); the decisions, consent events and state stay."""
    if days is None:
        days = retention_days(services().settings.get("MESSAGE_RETENTION_DAYS"))
    try:
        counts = prune(services().store, days)
    except StoreError as e:
        click.echo(f"prune: {e}", err=True)
        sys.exit(1)
    click.echo(f"pruned {counts['messages']:,} messages received before {counts['cutoff']} (text, HTML, headers and "
               f"provider parameters removed; decisions kept) and {counts['confirmations']:,} sent confirmation emails")
    if not counts["physically_removed"]:
        click.echo("a long read held off scrubbing the database's files: run it again to finish", err=True)


@command
@click.command("erase", short_help="Erase everything held about ADDRESS.")
@click.argument("address")
@channel_option()
def erase_command(address, channel):
    """Erase everything held about ADDRESS (messages, events, consent, outbox, links, pushes, reviews); keep
    it suppressed by a keyed digest for each scope it had opted out of. Prints what went and what stayed."""
    channel, address = canonical(channel, address)
    try:
        who = entry("erasure", "")
        result = erase(services().store, services().settings.get("ERASURE_KEY"), channel, address, actor=who.actor)
    except (ErasureKeyError, StoreError) as e:
        click.echo(f"erase: {e}", err=True)
        sys.exit(1)
    audit.record(services().store, entry("erasure", f"erasure {result['erasure_id']} of one {channel} address; "
                                                    f"kept suppressed: {', '.join(result['kept']) or 'nothing'}"))
    click.echo(json.dumps(result, indent=2))


@command
@click.command("export-person", short_help="Print everything held about ADDRESS, as JSON.")
@click.argument("address")
@channel_option()
def export_person(address, channel):
    """Print, as JSON, everything held about ADDRESS: messages, consent events, current state, confirmations
    sent, providers pushed to, and what is kept, why and for how long (a subject access request)."""
    channel, address = canonical(channel, address)
    settings = services().settings
    exported = person_export(services().store, channel, address, services().keywords.categories,
                             retention_days(settings.get("MESSAGE_RETENTION_DAYS")))
    audit.record(services().store, entry("export_person", f"the data of one {channel} address"))
    click.echo(json.dumps(exported, indent=2, ensure_ascii=False))
