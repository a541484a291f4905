"""The service's one seam: create_app() wires settings, keyword table, store, routes and commands."""

from __future__ import annotations

import atexit
import logging

import click
from dotenv import find_dotenv, load_dotenv
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from handlers.commands import cli
from handlers.core.keyword_file import KeywordFileError
from handlers.services import Services
from handlers.settings import metrics_directory, read_settings
from handlers.web import guards, metrics
from handlers.web.admin import admin
from handlers.web.api import api, health
from handlers.web.deliveries_page import deliveries_list  # noqa: F401 - its routes join the admin blueprint
from handlers.web.error_reports import start_error_reports
from handlers.web.log_format import JSON, log_format, use_json_logs
from handlers.web.outbox_page import outbox_list  # noqa: F401 - its routes join the admin blueprint
from handlers.web.person_page import contact_erase  # noqa: F401 - its routes join the admin blueprint
from handlers.web.preferences import pages
from handlers.web.provider_webhooks import provider_webhooks
from handlers.web.responses import strict_transport_security
from handlers.web.sms_webhook import DirectSmsWebhook, webhooks


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. Settings come from the environment and an optional .env, then test_config.

    Serving (gunicorn, tests) loads and validates keywords.yaml and migrates the database here, so a
    broken file or an unwritable database stops the service before it answers anything. Under the
    `flask` command both wait until a command needs them, so `flask check-keywords` can report on a
    broken file.
    """
    load_dotenv(find_dotenv(usecwd=True))
    app = Flask(__name__)
    settings = read_settings()
    settings.update(test_config or {})
    app.config.update(settings)
    if log_format(settings.get("LOG_FORMAT")) == JSON:
        use_json_logs(app)
    start_error_reports(settings.get("SENTRY_DSN"))
    app.extensions["optout"] = services = Services(settings)
    # The SMS webhook's plain requests are served before Flask's machinery (handlers/web/sms_webhook.py).
    app.wsgi_app = DirectSmsWebhook(app, app.wsgi_app)
    proxies = trusted_proxies(settings.get("TRUSTED_PROXIES"))
    if proxies:
        # The client's address, scheme and host as the proxies saw them; with none trusted, those
        # headers are anyone's to write and are never read.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    metrics.register(app, metrics_directory())  # GET /metrics, and each webhook and API request timed, outermost

    app.register_blueprint(webhooks)
    app.register_blueprint(provider_webhooks)
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(admin)
    cli.register(app)
    guards.register(app)
    app.after_request(strict_transport_security)
    app.teardown_appcontext(lambda error: services.release())

    if click.get_current_context(silent=True) is not None:
        atexit.register(services.close)  # a command's process: close its pool before the interpreter goes
    else:
        if app.logger.level == logging.NOTSET:
            app.logger.setLevel(logging.INFO)
        services.shared = True  # every worker serves the keyword table the database holds
        try:
            services.prepare()
        except KeywordFileError as e:  # one line that says where, not a traceback that ends with it
            raise SystemExit(f"Not serving: keywords.yaml cannot be used: {e.one_line()}") from None
        for name, consequence in (("ADMIN_TOKEN", "the /api/v1 API is closed but to API keys (flask add-api-key)"),
                                  ("TWILIO_AUTH_TOKEN", "every Twilio webhook will be refused with 403"),
                                  ("INBOUND_EMAIL_PASSWORD", "the SendGrid, Postmark and MIME webhooks refuse all"),
                                  ("MAILGUN_SIGNING_KEY", "the Mailgun webhooks refuse all"),
                                  ("SENDGRID_EVENT_PUBLIC_KEY", "the SendGrid event webhook refuses all"),
                                  ("UNSUBSCRIBE_SECRET", "no unsubscribe links and no preference page (the API's "
                                                         "unsubscribe-link answers 503), and confirmation emails "
                                                         "carry no link")):
            if not settings[name]:
                app.logger.warning("%s is not set: %s", name, consequence)
        if not settings.get("PUBLIC_BASE_URL") and not app.debug:
            app.logger.warning("PUBLIC_BASE_URL is not set: Twilio signatures are checked against the Host each "
                               "request names, and the API makes no unsubscribe links")
    return app


def trusted_proxies(value: str | None) -> int:
    """TRUSTED_PROXIES as a count; a clear error at start for anything else."""
    text = str(value if value is not None else "0").strip() or "0"
    if not text.isdecimal():
        raise ValueError(f"TRUSTED_PROXIES must be the number of reverse proxies in front (0, 1, 2 ...), not {text!r}")
    return int(text)
