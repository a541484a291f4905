"""Send the queued confirmation emails over SMTP, after commit, retrying with backoff.

The outbox row is written in the same transaction as the opt-out (handlers/storage/store.py); its
queries are handlers/storage/retry_queue.py's; this module only delivers. A row is claimed before sending
so that two workers never send it at once; a worker that dies between the SMTP server's acceptance
and marking the row sent would send it again once the claim expires (at-least-once: the window is one SMTP round trip).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from ..core.addresses import normalise_email
from ..storage import retry_queue
from ..storage.messages import brand_of
from ..storage.store import Store, StoreError
from .headers import message_id

# (email address, brand as stored) -> the preference page's URL for that brand's messages, or None
PageLink = Callable[[str, str], "str | None"]


class MailConfigError(ValueError):
    """SMTP_URL or MAIL_FROM cannot be used; the message says how to write them."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    tls: str  # "ssl" (smtps://), "starttls" (?starttls=1) or "none"

    @classmethod
    def from_url(cls, url: str | None) -> SmtpSettings:
        """smtp://user:pass@host:port, smtps://..., ?starttls=1."""
        if not url:
            raise MailConfigError("SMTP_URL is not set")
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailConfigError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1 or smtps://host:465")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        tls = "ssl" if parts.scheme == "smtps" else "starttls" if starttls else "none"
        default_port = 465 if tls == "ssl" else 587 if starttls else 25
        return cls(parts.hostname, parts.port or default_port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls)


def compose(row: dict, mail_from: str, page_link: PageLink | None = None) -> EmailMessage:
    """The confirmation as an RFC 5322 message: an automatic reply in the person's thread (RFC 3834),
    ending with the link to the person's preference page when `page_link` makes one (with it, the
    List-Unsubscribe headers of RFC 8058). Raises ValueError for a row that cannot be written as a
    message (an address that is none)."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = normalise_email(row["address"])
    message["Subject"] = row["subject"]
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"optout-{row['id']}", domain=domain)
    message["Auto-Submitted"] = "auto-replied"
    # Asks Exchange and Outlook not to answer it with an out-of-office of their own.
    message["X-Auto-Response-Suppress"] = "All"
    in_reply_to = message_id(row["in_reply_to"])  # rows queued before it was checked at the door
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    link = page_link(message["To"], row.get("brand", "")) if page_link else None
    if link:
        message["List-Unsubscribe"] = f"<{link}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row["body"].rstrip("\n") + (f"\n\n{link}\n" if link else "\n"))
    return message


def send_due(store: Store, smtp_url: str | None, mail_from: str | None, limit: int = 100,
             page_link: PageLink | None = None) -> dict:
    """Send what is due now, each with its preference page's link if `page_link` makes one. Returns
    counts {"sent", "retry", "failed"}."""
    if not mail_from or "@" not in parseaddr(mail_from)[1]:
        raise MailConfigError("MAIL_FROM must be an address, like Acme <no-reply@acme.example>")
    settings = SmtpSettings.from_url(smtp_url)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    rows = retry_queue.claim_due(store, limit, columns=(*retry_queue.OUTBOX_COLUMNS, "message_id"),
                                 also=" AND outbox.channel = 'email'")  # SMS: handlers/sync/sms_outbox.py
    if not rows:
        return counts
    try:
        server = _connect(settings)
    except (OSError, smtplib.SMTPException) as e:
        for row in rows:
            retry_queue.retry_later(store, row, f"cannot reach {settings.host}:{settings.port}: {e}")
        counts["retry"] = len(rows)
        return counts
    try:
        for row in rows:
            try:
                # The link opens the page of the brand whose message the person answered (core/brands.py).
                row["brand"] = brand_of(store, row["message_id"]) if page_link else ""
                composed = compose(row, mail_from, page_link)
            except (ValueError, MessageError) as e:  # this row only: give it up with the reason, go on
                retry_queue.give_up(store, row, f"cannot be written as an email: {e}")
                counts["failed"] += 1
                continue
            try:
                server.send_message(composed)
            except smtplib.SMTPRecipientsRefused as e:
                retry_queue.give_up(store, row, f"refused by the server: {e.recipients}")
                counts["failed"] += 1
            except (OSError, smtplib.SMTPException) as e:
                permanent = isinstance(e, smtplib.SMTPResponseException) and 500 <= e.smtp_code < 600
                (retry_queue.give_up if permanent else retry_queue.retry_later)(store, row, str(e))
                counts["failed" if permanent else "retry"] += 1
            else:
                retry_queue.mark_sent(store, row)
                counts["sent"] += 1
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return counts


def run_worker(store: Store, smtp_url: str | None, mail_from: str | None, log, poll: float = 1.0,
               stop=lambda: False, also=None, page_link: PageLink | None = None) -> None:
    """Send due confirmations until `stop()`; configuration and database errors are logged, never fatal
    (the rows wait in the outbox until the problem is gone). `also()`, if given, runs first in every
    cycle (the provider pushes) and returns counts to log, or None."""
    complained = None
    while not stop():
        if also is not None:
            try:
                counts = also()
                if counts and any(counts.values()):
                    log.info("mail worker: pushed %(pushed)d, will retry %(retry)d, gave up on %(failed)d", counts)
            except StoreError as e:
                log.error("mail worker: provider pushes wait: %s", e)
        try:
            counts = send_due(store, smtp_url, mail_from, page_link=page_link)
            complained = None
            if any(counts.values()):
                log.info("mail worker: sent %(sent)d, will retry %(retry)d, gave up on %(failed)d", counts)
        except (MailConfigError, StoreError) as e:
            if str(e) != complained:  # say it once, not every second
                if not (smtp_url and mail_from) and isinstance(e, MailConfigError):
                    # Not set yet is how a new install starts, not a failure: say what it means.
                    log.warning("mail worker: confirmations will wait in the outbox until MAIL_FROM and SMTP_URL "
                                "are set")
                else:
                    log.error("mail worker: %s; confirmations wait in the outbox until it is fixed", e)
                complained = str(e)
        finally:
            store.release()  # a PostgreSQL connection goes back to the pool, checked before its next use
        time.sleep(poll)


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.tls == "ssl":
        server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=30, context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(settings.host, settings.port, timeout=30)
        if settings.tls == "starttls":
            server.starttls(context=ssl.create_default_context())
    if settings.user:
        server.login(settings.user, settings.password or "")
    return server
