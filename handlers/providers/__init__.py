"""Providers: one package per provider (sendgrid/, mailgun/, postmark/, mime/; Twilio in twilio.py).
Each verifies its signatures and parses its payloads into the core's Inbound (or the email layer's
Mail), with sample payloads in the docstrings: inbound.py for replies, events.py (and mime/arf.py)
for event webhooks into the core's ProviderEvent, api.py for the small HTTP client of its suppression
API. Each package's __init__.py declares the provider (webhook.py says what a declaration holds), and
registry.py lists them all. Plain functions and clients: no Flask, no SQL; nothing downstream sees a
provider's field names."""
