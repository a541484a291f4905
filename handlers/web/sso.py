"""Single sign-on to the dashboard by OpenID Connect (optional), through Authlib's Flask client: the
authorization-code flow against OIDC_ISSUER, whose discovery document names its endpoints and keys.

Authlib checks what must be checked of the ID token (signature against the issuer's JWKS, issuer,
audience, expiry, the nonce it sent) and keeps the state in the dashboard's session; here only the
operator is read from the verified claims: their email, and their role from OIDC_ROLE_CLAIM through
OIDC_ROLE_MAP.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import current_app

from ..core.access import parse_role_map, role_from_claim
from .context import services

NEEDED = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")


class SignOnRefused(Exception):
    """The issuer's answer logs nobody in; the message says why (shown to the person, no secrets)."""


def configured() -> bool:
    settings = services().settings
    return all(settings.get(name) for name in NEEDED)


def client():
    """This app's OpenID Connect client (made on first use; its discovery document and keys are then kept)."""
    kept = current_app.extensions.get("optout.oidc")
    if kept is None:
        settings = services().settings
        oauth = OAuth(current_app._get_current_object())
        kept = oauth.register(
            "oidc", overwrite=True, client_id=settings["OIDC_CLIENT_ID"], client_secret=settings["OIDC_CLIENT_SECRET"],
            server_metadata_url=settings["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "timeout": 10})
        current_app.extensions["optout.oidc"] = kept
    return kept


def redirect_to_issuer(callback_url: str):
    """The redirect that sends the browser to the issuer's login (state and nonce kept in the session)."""
    return client().authorize_redirect(callback_url)


def operator_from_callback() -> tuple[str, str]:
    """(email, role) of the person the issuer's callback names; SignOnRefused if it names nobody allowed."""
    try:
        token = client().authorize_access_token()
    except OAuthError as e:
        raise SignOnRefused(f"the sign-on did not complete ({e.error})") from e
    except Exception as e:  # noqa: BLE001 - a bad token or an unreachable issuer: no login, and why in the log
        current_app.logger.warning("admin: single sign-on failed: %s", type(e).__name__)
        raise SignOnRefused("the identity provider's answer could not be verified") from e
    claims = token.get("userinfo") or {}
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is False:
        raise SignOnRefused("the identity provider gave no verified email address")
    settings = services().settings
    role = role_from_claim(claims.get(settings["OIDC_ROLE_CLAIM"]), parse_role_map(settings.get("OIDC_ROLE_MAP")))
    if role is None:
        raise SignOnRefused(f"{email} has no role here (OIDC_ROLE_MAP gives none for their "
                            f"{settings['OIDC_ROLE_CLAIM']})")
    return email, role
