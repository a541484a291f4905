"""What makes a request https, and keeps browsers on https (issue 26, items 8 and 17): gunicorn
believes no forwarded header, so only TRUSTED_PROXIES (the app's ProxyFix) decides the scheme; with an
https PUBLIC_BASE_URL every page tells browsers to come back over https only."""

import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import AUTH_TOKEN, serve, twilio_params
from service import DELIVERY_TIMEOUT
from twilio.request_validator import RequestValidator

HSTS = "max-age=31536000"


def signed_status(base, signed_for, params, **headers):
    request = urllib.request.Request(f"{base}/webhooks/twilio/sms", data=urllib.parse.urlencode(params).encode(),
                                     headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
                                         signed_for, params), **headers})
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_gunicorn_believes_no_forwarded_scheme_without_trusted_proxies(tmp_path):
    with serve(tmp_path, TRUSTED_PROXIES="0") as (base, _):
        claimed = f"{base.replace('http://', 'https://')}/webhooks/twilio/sms"
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
        assert signed_status(base, claimed, twilio_params("STOP", sender="+14155550601"), **forwarded) == 403
        assert signed_status(base, f"{base}/webhooks/twilio/sms", twilio_params("STOP", sender="+14155550602"),
                             **forwarded) == 200


def test_gunicorn_leaves_the_forwarded_scheme_to_trusted_proxies(tmp_path):
    with serve(tmp_path, TRUSTED_PROXIES="1") as (base, _):
        claimed = f"{base.replace('http://', 'https://')}/webhooks/twilio/sms"
        params = twilio_params("STOP", sender="+14155550603")
        assert signed_status(base, claimed, params, **{"X-Forwarded-Proto": "https"}) == 200


@pytest.mark.parametrize("public_base_url, expected", [
    ("https://optout.example.com", HSTS),
    ("http://optout.example.com", None),
    (None, None),
])
@pytest.mark.parametrize("path", ["/healthz", "/admin/login", "/u/not-a-link", "/api/v1/suppressions"])
def test_strict_transport_security_when_the_public_url_is_https(settings, make_app, public_base_url, expected,
                                                                 path):
    client = make_app({**settings, "PUBLIC_BASE_URL": public_base_url, "UNSUBSCRIBE_SECRET": "s"}).test_client()
    assert client.get(path).headers.get("Strict-Transport-Security") == expected
