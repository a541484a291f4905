"""The commands' --brand (keywords.yaml `brands:`): the option, and the brand it names as stored."""

from __future__ import annotations

import sys

import click
from flask import current_app


def brand_option(help_text: str):
    return click.option("--brand", default=None, help=f"{help_text} (a key of keywords.yaml brands:)")


def stored_brand(key: str | None) -> str | None:
    """--brand as stored (None when not given); exits 1 naming the brands for one that is not in keywords.yaml."""
    brands = current_app.extensions["optout"].keywords.brands
    try:
        return brands.stored_key(key)
    except KeyError:
        click.echo(f"--brand {key!r} is not a brand of keywords.yaml; known: "
                   f"{', '.join(b.key for b in brands.brands) or 'none (the file has no brands:)'}", err=True)
        sys.exit(1)
