"""Sending one text message through Twilio's Messages API (a reviewer's message after a correction):
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource. The SDK's client
is used, on the account the person's message came to, with that account's auth token."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from .http_api import ApiError


def send_text(account_sid: str, auth_token: str, sender: str, to: str, body: str) -> None:
    """Send `body` from `sender` to `to`. Raises ApiError, permanent for a 4xx (a number that cannot be
    texted, an unsubscribed recipient: error 21610) but 429; anything else may pass later."""
    try:
        Client(account_sid, auth_token).messages.create(to=to, from_=sender, body=body)
    except TwilioRestException as e:
        raise ApiError(f"Twilio {e.status}: {e.msg}", permanent=400 <= e.status < 500 and e.status != 429) from None
    except (requests.RequestException, TwilioException) as e:
        raise ApiError(f"cannot reach Twilio: {type(e).__name__}") from None
