"""flask copy-database: every table, with its history, from one database to another (SQLite to
PostgreSQL and back). Registered with the others by handlers/cli.py."""

from __future__ import annotations

import sys

import click

from .storage.bulk import TransferError
from .storage.copy import copy_database as copy_rows
from .storage.database import StoreError
from .storage.store import Store


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
