"""Record the consent events of one provider request, each in its own committed transaction, and say
what happened in the provider's terms (for handlers/web/provider_webhooks.py: every event webhook and
the MIME webhook's spam reports)."""

from __future__ import annotations

from flask import current_app, jsonify

from ..core import intake
from ..core.inbound import Replay
from ..core.provider_events import ProviderEvent, as_inbound
from ..storage.store import StoreError
from .context import services
from .responses import json_error, refused
from .webhook_log import log_webhook


def record_events(events: list[ProviderEvent], skipped: list[str] = (), unavailable: int = 503):
    """200 {"recorded", "duplicates", "skipped"} once every event is committed; 403 for a replayed
    Mailgun token; `unavailable` (a retry will do) when the database cannot commit. Events recorded
    before a failure are duplicates on the retry, so nothing is recorded twice."""
    recorded = duplicates = 0
    for event in events:
        inbound, decision = as_inbound(event)
        try:
            outcome = intake.handle(inbound, services().keywords, services().store, decision)
        except Replay as e:
            return refused(event.provider, 403, str(e), event.address)
        except StoreError:
            current_app.logger.exception("%s event webhook: could not record event %s", event.provider,
                                         event.event_id)
            return json_error(unavailable, "could not record the event; nothing was acknowledged; retry")
        log_webhook(inbound, outcome)
        duplicates += outcome.duplicate
        recorded += not outcome.duplicate
    return jsonify(status="recorded" if events else "ignored", recorded=recorded, duplicates=duplicates,
                   skipped=list(skipped))
