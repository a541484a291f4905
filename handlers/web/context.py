"""The app's services as the routes see them: settings, keyword table and store of the current app."""

from __future__ import annotations

from flask import current_app


def services():
    """The current app's handlers.services.Services (made once per app by create_app)."""
    return current_app.extensions["optout"]
