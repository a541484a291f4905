"""Commands for the team: operators of the dashboard, API keys of the sending tools, the audit log
(flask add-operator, set-password, remove-operator, list-operators, add-api-key, revoke-api-key,
list-api-keys, audit-log). Each change is written with its audit entry, naming the shell's user."""

from __future__ import annotations

import getpass
import re
import sys
from datetime import datetime, timedelta, timezone

import click
from flask import Flask

from ..core import credentials
from ..core.access import ROLES, SCOPES
from ..core.addresses import InvalidAddress, normalise
from ..storage import audit, operators
from ..storage.operators import OperatorError
from ..web.context import services

MIN_PASSWORD = 12


def register(app: Flask) -> None:
    for command in (add_operator, set_password, remove_operator, list_operators, add_api_key, revoke_api_key,
                    list_api_keys, audit_log):
        app.cli.add_command(command)


def entry(action: str, detail: str) -> audit.Entry:
    return audit.Entry(f"cli:{getpass.getuser()}", action, detail, "local")


def email_argument(raw: str) -> str:
    try:
        return normalise("email", raw, "US")
    except InvalidAddress as e:
        raise click.BadParameter(str(e)) from e


def done(change, success: str) -> None:
    """Run `change`; print `success`, or why not and exit 1."""
    try:
        change()
    except OperatorError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(success)


@click.command("add-operator", short_help="Add a dashboard operator; prints their password.")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer: reads the dashboard and contacts; reviewer: also gives review verdicts; admin: everything.")
def add_operator(email, role):
    """Add an operator of the dashboard; prints their one-time password (change it with set-password)."""
    email, password = email_argument(email), credentials.new_password()
    done(lambda: operators.add(services().store, email, role, credentials.hash_password(password),
                               entry("operator_added", f"{email} as {role}")),
         f"{email} added as {role}. Their password, shown this once: {password}")


@click.command("set-password", short_help="Set an operator's password.")
@click.argument("email")
def set_password(email):
    """Set an operator's password (asked twice, not echoed); ends every session they have open."""
    email = email_argument(email)
    if operators.find(services().store, email) is None:
        click.echo(f"{email} is not an operator", err=True)
        sys.exit(1)
    password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        click.echo(f"a password has at least {MIN_PASSWORD} characters", err=True)
        sys.exit(1)
    done(lambda: operators.set_password(services().store, email, credentials.hash_password(password),
                                        entry("password_set", email)),
         f"{email}: password set; their open sessions are ended")


@click.command("remove-operator", short_help="Remove an operator; ends their sessions.")
@click.argument("email")
def remove_operator(email):
    """Remove an operator; ends every session they have open (their audit entries stay)."""
    email = email_argument(email)
    done(lambda: operators.remove(services().store, email, entry("operator_removed", email)),
         f"{email} removed; their open sessions are ended")


@click.command("list-operators", short_help="List the dashboard's operators.")
def list_operators():
    """Every operator: email, role, how they log in, when they last did."""
    rows = operators.listing(services().store)
    if not rows:
        click.echo("no operators (flask add-operator EMAIL --role admin adds one)")
    for row in rows:
        how = "password" if row["has_password"] else "single sign-on"
        click.echo(f"{row['email']:<40} {row['role']:<9} {how:<15} last login {row['last_login'] or 'never'}")


@click.command("add-api-key", short_help="Add an API key; prints it once.")
@click.argument("name")
@click.option("--scope", type=click.Choice(SCOPES), required=True,
              help="check: the suppression check and unsubscribe links; read: also contacts and exports; "
                   "write: also imports and erasures.")
def add_api_key(name, scope):
    """Add an API key named NAME; prints the key once (only its hash is kept)."""
    key = credentials.new_api_key()
    done(lambda: operators.add_key(services().store, name, scope, credentials.key_digest(key),
                                   entry("api_key_added", f"{name} with scope {scope}")),
         f"API key {name!r} ({scope}), shown this once: {key}")


@click.command("revoke-api-key", short_help="Revoke the API key NAME.")
@click.argument("name")
def revoke_api_key(name):
    """Revoke the API key named NAME: it is refused (401) from the next request on."""
    done(lambda: operators.revoke_key(services().store, name, entry("api_key_revoked", name)),
         f"API key {name!r} revoked")


@click.command("list-api-keys", short_help="List the API keys.")
def list_api_keys():
    """Every API key: name, scope, made when, revoked when (never the key itself)."""
    rows = operators.keys(services().store)
    if not rows:
        click.echo("no API keys (flask add-api-key NAME --scope check adds one)")
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "live"
        click.echo(f"{row['name']:<30} {row['scope']:<6} made {row['created_at']}  {state}")


def since_moment(text: str | None) -> str | None:
    """--since as an ISO timestamp: a date or date-time (UTC), or an age like 7d, 24h, 30m."""
    if not text:
        return None
    age = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if age:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[age.group(2)]
        moment = datetime.now(timezone.utc) - timedelta(**{unit: int(age.group(1))})
        return moment.isoformat(timespec="microseconds")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise click.BadParameter(f"{text!r} is neither a date (2026-03-01), a date-time, nor an age (7d, 24h)") from e
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(
        timezone.utc).isoformat(timespec="microseconds")


@click.command("audit-log", short_help="Print the audit log (--since 7d, a date).")
@click.option("--since", default=None, help="From this date or date-time (UTC), or this age: 7d, 24h, 30m.")
def audit_log(since):
    """Print the audit log, oldest first: when, who, what, detail, from which client."""
    for row in reversed(audit.entries(services().store, since_moment(since))):
        click.echo(f"{row['at']}  {row['actor']}  {row['action']}  {row['detail']}  {row['client'] or ''}".rstrip())
