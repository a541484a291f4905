"""Raw MIME: a whole RFC 5322 message posted as the request body, behind HTTP Basic (inbound.py), the
parser the other email providers share for whole messages too; a spam complaint posted the same way
(an ARF report, arf.py) is an opt-out of the person it names.

Its retry contract: 401 for wrong credentials, 400 for a body that is no email, 503 when the database
cannot commit.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.inbound import ProviderError
from ..webhook import EMAIL_BODY, HTTP_BASIC, RAW, Delivery, Events, Provider, Unusable, Webhook, basic_header
from . import arf
from .inbound import parse_mime


def _parse(delivery: Delivery):
    raw = delivery.payload
    if not raw.strip():
        raise Unusable("expected a raw RFC 5322 message as the request body")
    try:
        if arf.is_feedback_report(raw):  # a spam complaint (RFC 5965): the person it names opts out
            return Events(arf.feedback_report_events(raw))
        return parse_mime(raw)
    except ProviderError as error:
        raise Unusable(str(error)) from error


def _simulated(raw: bytes, settings: Mapping) -> tuple[bytes, dict[str, str]]:
    return raw, {**basic_header(settings), "Content-Type": "message/rfc822"}


PROVIDER = Provider(
    "mime",
    webhooks=(
        Webhook(path="/webhooks/email/mime", log_name="mime", authentication=HTTP_BASIC, read=RAW, parse=_parse,
                max_body=EMAIL_BODY, content_types=None,  # raw RFC 5322, whatever the pipe calls it
                simulate=_simulated),
    ),
)
