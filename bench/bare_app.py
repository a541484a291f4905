"""The benchmark's baseline: a bare Flask app with one POST route that reads the form and answers a
small XML body, served by bench/webhook_load.py under the same gunicorn settings as the service.
No signature check, no classification, no database: the ceiling the service is compared against."""

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/webhooks/twilio/sms")
def inbound_sms():
    form = request.form
    # Touch the fields the service reads, so the form is really parsed.
    if not form.get("MessageSid") or not form.get("From"):
        return Response("missing MessageSid or From\n", 400, mimetype="text/plain")
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response />', mimetype="application/xml")
