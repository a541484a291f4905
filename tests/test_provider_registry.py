"""The provider registry (handlers/providers/registry.py) is the one place a provider's webhooks are
declared: every POST route under /webhooks/ but Twilio's SMS webhook comes from it, each answers with
the statuses its declaration promises, the request guards apply its declared limits, and the requests
`flask simulate-email` builds from it are accepted."""

import pytest
from events_support import with_providers

from handlers import simulate
from handlers.providers import registry
from handlers.settings import SETTINGS
from handlers.sync import clients
from handlers.web import guards

SMS_ROUTE = "/webhooks/twilio/sms"  # served by handlers/web/sms_webhook.py, with its own fast path
WEBHOOKS = {webhook.path: webhook for webhook in registry.WEBHOOKS}
REPLY = b"From: Pat <pat@example.org>\r\nTo: news@acme.example\r\nSubject: Re: news\r\n" \
        b"Message-ID: <registry-1@example.org>\r\n\r\nSTOP\r\n"

# (bad credentials, a request that can never succeed, a database that cannot commit), as each provider's
# retries want them: the packages' docstrings say why.
CONTRACTS = {
    "/webhooks/email/sendgrid": (503, 400, 503),  # SendGrid retries only 5xx
    "/webhooks/email/mailgun": (401, 406, 503),  # 406: Mailgun's "do not retry"
    "/webhooks/email/postmark": (401, 400, 503),  # never 403 to Postmark: it stops for good
    "/webhooks/email/mime": (401, 400, 503),
    "/webhooks/events/sendgrid": (401, 400, 503),
    "/webhooks/events/mailgun": (401, 406, 503),
    "/webhooks/events/postmark": (401, 400, 503),
    "/webhooks/twilio/status": (403, 400, 500),  # as the SMS webhook answers
}


@pytest.fixture
def provider_settings(settings, tmp_path):
    return with_providers(settings, tmp_path)


@pytest.fixture
def app(provider_settings, make_app):
    return make_app(provider_settings)


def test_every_webhook_route_comes_from_the_registry(app):
    posted = {rule.rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/webhooks/") and "POST" in rule.methods}
    assert posted - {SMS_ROUTE} == set(WEBHOOKS)


def test_providers_and_paths_are_declared_once():
    names = [provider.name for provider in registry.PROVIDERS]
    assert len(names) == len(set(names)) == 5
    assert len(registry.WEBHOOKS) == len(WEBHOOKS) == len(CONTRACTS)


@pytest.mark.parametrize("path", sorted(CONTRACTS))
def test_each_webhook_declares_its_providers_contract(path):
    contract = WEBHOOKS[path].contract
    assert (contract.bad_credentials, contract.unusable, contract.unavailable) == CONTRACTS[path]


def test_the_settings_a_declaration_names_are_settings():
    named = {name for webhook in registry.WEBHOOKS for name in webhook.authentication.settings}
    named |= {name for provider in registry.with_api() for name in provider.api.settings}
    assert named and named <= {setting.name for setting in SETTINGS}


def test_an_api_client_is_made_once_all_its_settings_are_set(provider_settings):
    assert set(clients.make_clients(provider_settings)) == set(clients.PROVIDERS) == {"sendgrid", "mailgun", "postmark"}
    for provider in registry.with_api():
        for name in provider.api.settings:
            assert provider.name not in clients.configured({**provider_settings, name: None}), name


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_the_guards_apply_the_declared_limits(path):
    webhook = WEBHOOKS[path]
    assert guards.limits_for(path) == (webhook.max_body, webhook.content_types)


@pytest.mark.parametrize("path", sorted(WEBHOOKS))
def test_a_request_without_credentials_gets_the_declared_status(app, path):
    webhook = WEBHOOKS[path]
    content_type = (webhook.content_types or ("message/rfc822",))[0]
    response = app.test_client().post(path, data=b"{}", content_type=content_type)
    assert response.status_code == webhook.contract.bad_credentials
    plain = response.mimetype == "text/plain"
    assert plain == webhook.authentication.plain_text, response.get_data(as_text=True)


@pytest.mark.parametrize("provider", simulate.EMAIL_PROVIDERS)
def test_a_simulated_reply_is_recorded(app, provider, provider_settings):
    request = simulate.email_reply(provider, "http://localhost", REPLY, provider_settings)
    response = app.test_client().post(request.url.removeprefix("http://localhost"), data=request.body,
                                      headers=request.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "recorded"


@pytest.mark.parametrize("provider", simulate.EMAIL_PROVIDERS)
def test_a_simulated_request_that_can_never_succeed_gets_the_declared_status(app, provider, provider_settings):
    webhook = registry.simulated()[provider]
    request = simulate.email_reply(provider, "http://localhost", b"no header, no sender", provider_settings)
    response = app.test_client().post(webhook.path, data=request.body, headers=request.headers)
    assert response.status_code == webhook.contract.unusable, response.get_data(as_text=True)


@pytest.mark.parametrize("provider", simulate.EMAIL_PROVIDERS)
def test_the_settings_simulate_email_asks_for_are_the_ones_the_webhook_needs(provider, provider_settings,
                                                                            make_app):
    needed = simulate.settings_needed(provider)
    assert needed
    for name in needed:
        app = make_app({**provider_settings, name: None})
        request = simulate.email_reply(provider, "http://localhost", REPLY, provider_settings)
        response = app.test_client().post(registry.simulated()[provider].path, data=request.body,
                                          headers=request.headers)
        assert response.status_code == registry.simulated()[provider].contract.bad_credentials, name
