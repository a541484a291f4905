"""The one INFO line every webhook leaves: provider, action, rule, masked address and time, so that an
operator can follow what happened without the log holding a number, an address or a message body; and
its count in the metrics (handlers/web/metrics.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app

from ..core.addresses import masked
from ..core.inbound import Inbound
from ..core.intake import Recorded
from .metrics import count_inbound


def log_webhook(inbound: Inbound, recorded: Recorded) -> None:
    """Log what became of one delivery (a duplicate and ignored automatic mail included)."""
    if recorded.duplicate:
        action = "duplicate"
    elif inbound.ignored:
        action = "ignored"
    else:
        action = recorded.transition.action if recorded.transition else "none"
    fields = {"channel": inbound.channel, "provider": inbound.provider, "action": action,
              "rule": recorded.rule or "-", "from": masked(inbound.address),
              "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    # The fields once more as `extra`: LOG_FORMAT=json writes them as JSON fields of their own.
    current_app.logger.info("webhook %(channel)s %(provider)s: action=%(action)s rule=%(rule)s from=%(from)s "
                            "at=%(at)s", fields, extra=fields)
    count_inbound(inbound.channel, inbound.provider, action, recorded.transition)
