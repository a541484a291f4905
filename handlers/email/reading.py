"""Read an inbound email (a Mail from any provider adapter) into an Inbound: who sent it, whether a
person wrote it, what they wrote above the quoted history, and whether their domain vouches for them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from email.utils import parseaddr

from ..core.addresses import InvalidAddress, normalise_email
from ..core.inbound import Inbound
from .headers import authentication
from .headers import message_id as reply_to_id
from .message import Mail
from .reply_text import extract_reply, reply_from

# Out-of-office subjects in the shipped languages (and what Exchange, Gmail, Apple write).
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office|away from (the )?office|"
    r"réponse automatique|absence du bureau|abwesenheitsnotiz|automatische antwort|"
    r"respuesta automática|fuera de la oficina|resposta automática|ausente do escritório|fora do escritório|"
    r"risposta automatica|fuori sede|fuori ufficio|automatisch antwoord|afwezig)\b",
    re.IGNORECASE)
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")


def to_inbound(mail: Mail, trusted_authserv_ids: Sequence[str] = ()) -> Inbound:
    """The Inbound for `mail`; `ignored` says why no person's reply is in it (then nothing is done).
    Authentication-Results are believed only from `trusted_authserv_ids` (TRUSTED_AUTHSERV_IDS)."""
    try:
        address = normalise_email(mail.sender or "")
    except InvalidAddress:
        address = ""  # recorded with its evidence and ignored: nothing suppressed, nothing mailed
    message_id = (mail.header("Message-ID") or "").strip() or None
    received_spf, received_domains = authentication(mail.headers, trusted_authserv_ids)
    evidence = {
        **mail.evidence,
        "from": mail.sender, "to": mail.recipient, "subject": mail.subject, "message_id": message_id,
        "envelope_from": mail.envelope_from, "spf": mail.spf, "dkim_pass_domains": list(mail.dkim_pass_domains),
        "authentication_results": {"trusted": list(trusted_authserv_ids), "spf": received_spf,
                                   "verified_domains": list(received_domains)},
        "content_type": mail.content_type, "text": mail.text, "html": mail.html,
        "stripped_text": mail.stripped_text, "headers": [list(h) for h in mail.headers],
    }
    ignored = ignore_reason(mail, address)
    text = "" if ignored else reply_from(mail.text, mail.html)
    if not text and mail.stripped_text and not ignored:
        # The provider's own extraction, only when ours found nothing, and cleaned like ours.
        text = extract_reply(mail.stripped_text)
    return Inbound(
        channel="email",
        provider=mail.provider,
        provider_id=mail.provider_id or message_id or _fingerprint(mail),
        address=address,
        recipient=mail.recipient,
        text=text,
        params=evidence,
        message_id=reply_to_id(message_id),
        subject=mail.subject,
        ignored=ignored,
        sender_verified=sender_verified(mail, address, received_domains),
    )


def listed(value: str | None) -> tuple[str, ...]:
    """A comma-separated setting (TRUSTED_AUTHSERV_IDS, FEEDBACK_LOOP_SENDERS) as its entries, lower case."""
    return tuple(entry.strip().lower() for entry in (value or "").split(",") if entry.strip())


def verified_sender(mail: Mail, trusted_authserv_ids: Sequence[str]) -> str | None:
    """The From address of `mail` when its own domain vouches for it (as sender_verified), else None."""
    try:
        address = normalise_email(mail.sender or "")
    except InvalidAddress:
        return None
    received_domains = authentication(mail.headers, trusted_authserv_ids)[1]
    return address if sender_verified(mail, address, received_domains) else None


def ignore_reason(mail: Mail, address: str) -> str | None:
    """Why `mail` is an automatic message (never acted on, never answered), or None if a person wrote it."""
    # Bounces first: they often say Auto-Submitted too, and "bounce" is the more useful record.
    if mail.content_type.lower() == "multipart/report":
        return "delivery or feedback report (multipart/report)"
    if mail.envelope_from == "":
        return "empty return path (a bounce)"
    if not address:
        return "no usable sender address" if mail.sender else "no sender address"
    if address.split("@")[0] in _DAEMONS:
        return f"sent by {address.split('@')[0]}"
    auto_submitted = (mail.header("Auto-Submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if mail.header(name) is not None:
            return f"{name} header"
    precedence = (mail.header("Precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if _AUTO_SUBJECT.match(mail.subject or ""):
        return "out-of-office subject"
    return None


def sender_verified(mail: Mail, address: str, received_domains: Sequence[str] = ()) -> bool:
    """The provider's own SPF passed for an envelope domain aligned with the From domain, or its DKIM
    passed for it, or our receiving servers verified an aligned domain (`received_domains`)."""
    domain = address.rpartition("@")[2]
    if not domain:
        return False
    envelope_domain = parseaddr(mail.envelope_from or "")[1].rpartition("@")[2].lower()
    if (mail.spf or "").lower() == "pass" and envelope_domain and _aligned(envelope_domain, domain):
        return True
    return any(_aligned(d.lower().lstrip("@"), domain) for d in (*mail.dkim_pass_domains, *received_domains))


def _aligned(signer: str, domain: str) -> bool:
    # Relaxed alignment (DMARC): the same domain, or one a subdomain of the other.
    return signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)


def _fingerprint(mail: Mail) -> str:
    """A stable id for a message without Message-ID, so a retried delivery is still recognised."""
    digest = hashlib.sha256()
    for part in (mail.sender, mail.subject, mail.header("Date") or "", mail.text or "", mail.html or ""):
        digest.update(part.encode("utf-8", "replace") + b"\0")
    return "sha256:" + digest.hexdigest()
