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
    Setting("CONSENT_WEBHOOK_URLS", None,
            "Comma-separated URLs that get every change of consent as a signed POST (Standard Webhooks)."),
    Setting("CONSENT_WEBHOOK_SECRET", None,
            "whsec_ + base64 of 24-64 random bytes: signs the consent webhooks. Unset: they wait, unsent."),
)


def read_settings(environ=None) -> dict[str, str | None]:
    """Return {name: value} for every setting, empty strings counting as unset."""
    environ = os.environ if environ is None else environ
    return {s.name: (environ.get(s.name) or s.default) for s in SETTINGS}


def local_origin(environ=None) -> str:
    """http://127.0.0.1:$PORT (8000 unset): where `make run` serves, for commands that call the service."""
    environ = os.environ if environ is None else environ
    return f"http://127.0.0.1:{environ.get('PORT') or 8000}"
