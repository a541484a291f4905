"""The one INFO line every webhook leaves: provider, action, rule, masked address and time, so that an
operator can follow what happened without the log holding a number, an address or a message body."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app

from ..core.addresses import masked
from ..core.inbound import Inbound
from ..core.intake import Recorded


def log_webhook(inbound: Inbound, recorded: Recorded) -> None:
    """Log what became of one delivery (a duplicate and ignored automatic mail included)."""
    if recorded.duplicate:
        action = "duplicate"
    elif inbound.ignored:
        action = "ignored"
    else:
        action = recorded.transition.action if recorded.transition else "none"
    current_app.logger.info("webhook %s %s: action=%s rule=%s from=%s at=%s", inbound.channel, inbound.provider,
                            action, recorded.rule or "-", masked(inbound.address),
                            datetime.now(timezone.utc).isoformat(timespec="seconds"))
