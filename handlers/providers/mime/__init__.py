"""Raw MIME: a whole RFC 5322 message posted as the request body, behind HTTP Basic (inbound.py), the
parser the other email providers share for whole messages too; a spam complaint posted the same way
(an ARF report, arf.py) is an opt-out of the person it names, when it comes from a feedback loop:
posted with FEEDBACK_LOOP_PASSWORD, or sent by one of FEEDBACK_LOOP_SENDERS whose domain vouches for it
(anyone can post a report naming anyone; one that is neither is recorded as ignored mail).

Its retry contract: 401 for wrong credentials, 400 for a body that is no email, 503 when the database
cannot commit.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.inbound import ProviderError
from ...email.reading import listed, verified_sender
from ..webhook import (
    EMAIL_BODY,
    HTTP_BASIC_OR_FEEDBACK,
    RAW,
    Delivery,
    Events,
    Provider,
    Unusable,
    Webhook,
    basic_header,
    on_feedback_credential,
)
from . import arf
from .inbound import parse_mime


def _parse(delivery: Delivery):
    raw = delivery.payload
    if not raw.strip():
        raise Unusable("expected a raw RFC 5322 message as the request body")
    try:
        if arf.is_feedback_report(raw) and from_feedback_loop(raw, delivery):
            return Events(arf.feedback_report_events(raw))  # a spam complaint: the people it names opt out
        return parse_mime(raw)  # a report from anyone else is mail like any other: recorded, ignored
    except ProviderError as error:
        raise Unusable(str(error)) from error


def from_feedback_loop(raw: bytes, delivery: Delivery) -> bool:
    """Whether a spam complaint report may speak for the person it names: posted with the feedback
    credential, or sent by a configured feedback loop whose domain vouches for its From."""
    if on_feedback_credential(delivery):
        return True
    senders = listed(delivery.settings.get("FEEDBACK_LOOP_SENDERS"))
    sender = senders and verified_sender(parse_mime(raw), listed(delivery.settings.get("TRUSTED_AUTHSERV_IDS")))
    domain = sender.rpartition("@")[2] if sender else ""
    # An entry with @ is one address; any other a domain, its subdomains included.
    return bool(sender) and any(sender == entry if "@" in entry else domain == entry or domain.endswith("." + entry)
                                for entry in senders)


def _simulated(raw: bytes, settings: Mapping) -> tuple[bytes, dict[str, str]]:
    return raw, {**basic_header(settings), "Content-Type": "message/rfc822"}


PROVIDER = Provider(
    "mime",
    webhooks=(
        Webhook(path="/webhooks/email/mime", log_name="mime", authentication=HTTP_BASIC_OR_FEEDBACK, read=RAW,
                parse=_parse,
                max_body=EMAIL_BODY, content_types=None,  # raw RFC 5322, whatever the pipe calls it
                simulate=_simulated),
    ),
)
