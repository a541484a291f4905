"""Providers: one module per provider (twilio, sendgrid, mailgun, postmark, mime). Each verifies its
signature and parses its payload into the core's Inbound (or the email layer's Mail), with a sample
payload in its docstring. Plain functions: no Flask, no SQL; nothing downstream sees a provider's field names."""
