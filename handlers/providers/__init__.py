"""Providers: one module per provider (twilio, sendgrid, mailgun, postmark, mime). Each verifies its
signature and parses its payload into the core's Inbound (or the email layer's Mail), with a sample
payload in its docstring; the *_events modules (and arf) parse event webhooks into the core's
ProviderEvent, and the *_api modules are small HTTP clients of the providers' suppression APIs.
Plain functions and clients: no Flask, no SQL; nothing downstream sees a provider's field names."""
