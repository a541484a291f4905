"""Every setting the service reads: one table of (name, default, help), read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str


SETTINGS = (
    Setting("DATABASE_PATH", "data/optout.sqlite3", "SQLite file holding messages, decisions and consent state."),
    Setting("DATABASE_URL", None,
            "postgresql://user:pass@host/db: a PostgreSQL shared by several web nodes, used instead of DATABASE_PATH."),
    Setting("KEYWORDS_PATH", "keywords.yaml", "Keyword table: keywords, phrases, categories, replies, languages."),
    Setting("MODEL_CACHE_DIR", "data/models",
            "Folder of trained models, one file per keyword table's examples; the first process trains, others read."),
    Setting("TWILIO_AUTH_TOKEN", None,
            "Twilio auth token; signs every webhook. Unset: every SMS webhook is refused (403)."),
    Setting("PUBLIC_BASE_URL", None,
            "Public origin Twilio calls (https://sms.example.com), for signature checks behind a proxy."),
    Setting("TRUSTED_PROXIES", "0",
            "Reverse proxies in front (0: none). Only then are X-Forwarded-For/-Proto/-Host believed."),
    Setting("ADMIN_TOKEN", None, "Bearer token for /api/v1. Unset: the API is closed (401)."),
    Setting("DEFAULT_REGION", "US", "Region for phone numbers written without a country code (ISO 3166 code)."),
    Setting("INBOUND_EMAIL_USER", None, "Basic-auth user the SendGrid, Postmark and raw MIME webhooks must send."),
    Setting("INBOUND_EMAIL_PASSWORD", None, "Basic-auth password for those webhooks. Unset: they are refused (401)."),
    Setting("TRUSTED_AUTHSERV_IDS", None,
            "Comma-separated authserv-ids of your own receiving mail servers (mx1.acme.example): only the topmost "
            "Authentication-Results each adds is believed. Unset: none is, and opt-ins in raw MIME are refused."),
    Setting("FEEDBACK_LOOP_SENDERS", None,
            "Comma-separated addresses or domains whose spam complaint reports (ARF) posted to the MIME webhook are "
            "acted on, when their domain vouches for them (TRUSTED_AUTHSERV_IDS). Others are recorded, ignored."),
    Setting("FEEDBACK_LOOP_PASSWORD", None,
            "A second HTTP Basic password (user INBOUND_EMAIL_USER) for the MIME webhook: ARF reports posted "
            "with it are acted on whoever sent them (a pipe for your feedback-loop address only)."),
    Setting("MAILGUN_SIGNING_KEY", None, "Mailgun HTTP webhook signing key. Unset: the Mailgun webhook is refused."),
    Setting("SENDGRID_EVENT_PUBLIC_KEY", None,
            "Public key of SendGrid's signed Event Webhook (base64, as SendGrid shows it). Unset: events refused."),
    Setting("SENDGRID_API_KEY", None, "SendGrid API key (Suppressions access): opt-outs are pushed to SendGrid."),
    Setting("SENDGRID_API_URL", "https://api.sendgrid.com",
            "SendGrid's API (https://api.eu.sendgrid.com for EU subusers)."),
    Setting("MAILGUN_API_KEY", None, "Mailgun API key: with MAILGUN_DOMAIN, opt-outs go to Mailgun's unsubscribes."),
    Setting("MAILGUN_DOMAIN", None, "The Mailgun sending domain kept in step, e.g. mg.acme.example."),
    Setting("MAILGUN_API_URL", "https://api.mailgun.net",
            "Mailgun's API (https://api.eu.mailgun.net for EU accounts)."),
    Setting("POSTMARK_SERVER_TOKEN", None, "Postmark server API token: opt-outs go to its streams' suppressions."),
    Setting("POSTMARK_API_URL", "https://api.postmarkapp.com", "Postmark's API."),
    Setting("SMTP_URL", None, "Where confirmation emails go: smtp://user:pass@host:587?starttls=1 or smtps://..."),
    Setting("MAIL_FROM", None, "From address of confirmation emails, e.g. Acme <no-reply@acme.example>."),
    Setting("UNSUBSCRIBE_SECRET", None, "Signs unsubscribe links (/u/<token>). Unset: no links can be made or opened."),
    Setting("MESSAGE_RETENTION_DAYS", "90",
            "Days a message's text, HTML, headers and provider parameters are kept; then only the decision stays."),
    Setting("ERASURE_KEY", None,
            "Keys the digests that keep erased people suppressed (16+ chars). Unset: no erasure. Never change it."),
    Setting("OIDC_ISSUER", None,
            "OpenID Connect issuer for dashboard single sign-on (https://login.example.com/realms/acme). Unset: off."),
    Setting("OIDC_CLIENT_ID", None, "This service's client id at OIDC_ISSUER."),
    Setting("OIDC_CLIENT_SECRET", None, "Its client secret at OIDC_ISSUER."),
    Setting("OIDC_ROLE_CLAIM", "groups", "The ID token claim (a string or a list) whose values OIDC_ROLE_MAP reads."),
    Setting("OIDC_ROLE_MAP", None,
            "Claim value to role: optout-admins=admin,optout-reviewers=reviewer,staff=viewer. No match: no login."),
    Setting("CONSENT_WEBHOOK_URLS", None,
            "Comma-separated URLs that get every change of consent as a signed POST (Standard Webhooks)."),
    Setting("CONSENT_WEBHOOK_SECRET", None,
            "whsec_ + base64 of 24-64 random bytes: signs the consent webhooks. Unset: they wait, unsent."),
    Setting("METRICS_TOKEN", None,
            "Bearer token GET /metrics asks for. Unset: /metrics is open (restrict it in front)."),
    Setting("LOG_FORMAT", "text", "text, or json: one JSON object a line, the same fields and masking."),
    Setting("SENTRY_DSN", None,
            "Sentry (or GlitchTip) DSN: unhandled errors are reported, scrubbed of addresses and message text."),
)


def read_settings(environ=None) -> dict[str, str | None]:
    """Return {name: value} for every setting, empty strings counting as unset."""
    environ = os.environ if environ is None else environ
    return {s.name: (environ.get(s.name) or s.default) for s in SETTINGS}


def local_origin(environ=None) -> str:
    """http://127.0.0.1:$PORT (8000 unset): where `make run` serves, for commands that call the service."""
    environ = os.environ if environ is None else environ
    return f"http://127.0.0.1:{environ.get('PORT') or 8000}"


def metrics_directory(environ=None) -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, where prometheus-client's multiprocess mode keeps each process's counts;
    None when unset (one process: its counts are in memory)."""
    environ = os.environ if environ is None else environ
    return environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def use_metrics_directory(path: str) -> None:
    """Set PROMETHEUS_MULTIPROC_DIR for this process and the workers it forks. prometheus-client reads it
    once, when first imported, so this must run before anything imports it (handlers/gunicorn_config.py)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
