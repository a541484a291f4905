"""flask backup PATH: a consistent copy of the live SQLite database (handlers/storage/backup.py).
Registered with the others by handlers/commands/cli.py."""

from __future__ import annotations

import click

from ..storage.backup import BackupError, backup_database
from ..web.context import services


@click.command("backup", short_help="Copy the live SQLite database to PATH, consistently.")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists (by default an existing file is refused).")
def backup(path, overwrite):
    """Copy the SQLite database (DATABASE_PATH) to PATH while the service runs; PostgreSQL: use pg_dump."""
    settings = services().settings
    try:
        taken = backup_database(settings.get("DATABASE_URL") or settings["DATABASE_PATH"], path, overwrite)
    except BackupError as e:
        click.echo(f"backup: {e}", err=True)
        raise SystemExit(1) from e
    click.echo(f"backup: {taken.path}, {taken.size} bytes in {taken.seconds:.2f} s, integrity_check ok, "
               f"{taken.opted_out} opt-out rows")
