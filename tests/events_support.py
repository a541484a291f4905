"""What the provider event and sync tests share: a keyword table whose categories map to provider
lists, provider credentials, and requests signed as each provider signs them."""

import base64
import hashlib
import hmac
import itertools
import json
import time

from conftest import ROOT
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

USER, PASSWORD = "inbound", "inbound-secret"
MAILGUN_KEY = "test-mailgun-signing-key"
# A key pair made for the tests, as SendGrid makes one when Signature Verification is turned on.
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
API = {"SENDGRID_API_KEY": "SG.test", "SENDGRID_API_URL": "https://api.sendgrid.test",
       "MAILGUN_API_KEY": "key-test", "MAILGUN_DOMAIN": "mg.acme.example",
       "MAILGUN_API_URL": "https://api.mailgun.test",
       "POSTMARK_SERVER_TOKEN": "pm-test", "POSTMARK_API_URL": "https://api.postmark.test"}
LISTS = {"promotions": "    lists:\n      sendgrid: [20431]\n      mailgun: [promotions]\n"
                       "      postmark: [broadcast]\n",
         "newsletter": "    lists:\n      sendgrid: [20433]\n      mailgun: [newsletter]\n"}
_tokens = itertools.count(1)


def keywords_with_lists(path):
    """keywords.yaml as shipped, with promotions and newsletter mapped to provider lists."""
    text = (ROOT / "keywords.yaml").read_text()
    for category, lists in LISTS.items():
        text = text.replace(f"\n  {category}:\n", f"\n  {category}:\n{lists}", 1)
    path.write_text(text)
    return str(path)


def with_providers(settings, tmp_path):
    """The test settings with every provider's credentials and the mapped keyword table."""
    return {**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
            "MAILGUN_SIGNING_KEY": MAILGUN_KEY, "SENDGRID_EVENT_PUBLIC_KEY": SENDGRID_PUBLIC,
            "KEYWORDS_PATH": keywords_with_lists(tmp_path / "keywords.yaml"), **API}


def basic(user=USER, password=PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def sendgrid_post(client, events, key=SENDGRID_KEY, body=None, timestamp=None):
    """POST events as SendGrid's signed Event Webhook does: ECDSA over timestamp + body."""
    body = body if body is not None else json.dumps(events).encode()
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    return client.post("/webhooks/events/sendgrid", data=body, content_type="application/json",
                       headers={"X-Twilio-Email-Event-Webhook-Signature": signature,
                                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})


def mailgun_payload(event_data, key=MAILGUN_KEY, token=None, timestamp=None):
    """A Mailgun event webhook body, signed as Mailgun signs it (HMAC-SHA256 of timestamp + token)."""
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    token = token or f"{next(_tokens):050d}"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}
