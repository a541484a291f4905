"""How the channels' consents relate, and what a WhatsApp or RCS button does: keywords.yaml's `channels`
and `buttons`, read and checked here, with their defaults (README, "WhatsApp and RCS").

- RCS shares SMS consent for the number by default, as Twilio does since 16 March 2026 (a STOP on RCS
  blocks SMS from the same sender and the other way round, error 21610 on both:
  https://www.twilio.com/en-us/changelog/twilio-now-supports-unified-opt-outs-across-rcs--sms--and-mms-ch).
- WhatsApp has its own consent by default: Meta's opt-outs (blocking the business, "Stop promotions") are
  WhatsApp's alone. An operator may link it to SMS (`whatsapp: {consent: sms}`).

A channel linked to SMS keeps its consent under SMS: one state per number, read and written for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .addresses import CHANNEL_PREFIXES, CHANNELS
from .decision import HELP, OPT_IN, OPT_OUT

OWN, SMS = "own", "sms"
CONSENT_CHOICES = (SMS, OWN)
DEFAULT_CONSENT = MappingProxyType({"rcs": SMS, "whatsapp": OWN})
BUTTON_ACTIONS = (OPT_OUT, OPT_IN, HELP)
# WhatsApp's own button on marketing templates ("Stop promotions"): it stops promotions, where the file
# has that category and maps no button of that text itself.
STOP_PROMOTIONS_TEXT, PROMOTIONS = "Stop promotions", "promotions"


def button_key(text: str) -> str:
    """A payload or button text as it is looked up: case and spacing do not matter."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class ButtonAction:
    action: str  # opt_out | opt_in | help
    categories: tuple[str, ...] = ()  # empty: everything
    written: str = ""  # the payload or text as keywords.yaml writes it


@dataclass(frozen=True)
class ChannelPolicy:
    # whatsapp, rcs -> "sms" (shares SMS consent) or "own"
    consent: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CONSENT)
    buttons: Mapping[str, ButtonAction] = field(default_factory=dict)  # button_key(payload or text) -> action

    def consent_channel(self, channel: str) -> str:
        """The channel whose consent `channel` uses: "sms" for a channel linked to SMS, else itself."""
        return SMS if self.consent.get(channel) == SMS else channel

    def sharing(self, channel: str) -> tuple[str, ...]:
        """Every channel whose consent is `channel`'s (sms and rcs by default), `channel`'s own first."""
        key = self.consent_channel(channel)
        return (channel, *(c for c in CHANNELS if c != channel and self.consent_channel(c) == key))

    def button(self, payload: str | None, text: str | None) -> ButtonAction | None:
        """What a tapped button does: its payload's mapping first, then its text's; None when neither is mapped."""
        for given in (payload, text):
            found = self.buttons.get(button_key(given)) if given else None
            if found:
                return found
        return None


DEFAULT_POLICY = ChannelPolicy()


def read_channel_policy(reader, channels, buttons, categories: tuple[str, ...]) -> ChannelPolicy:
    """The policy of keywords.yaml's `channels` and `buttons` (both optional), each problem noted on
    `reader` (a KeywordReader) at its line."""
    consent = dict(DEFAULT_CONSENT)
    if channels is not None and not isinstance(channels, dict):
        reader.problem(("channels",), "must map whatsapp and rcs to their consent, like rcs: {consent: sms}")
        channels = {}
    for channel, settings in (channels or {}).items():
        where = ("channels", channel)
        if channel not in CHANNEL_PREFIXES:
            reader.problem(where, f"is not a channel whose consent can be set ({', '.join(CHANNEL_PREFIXES)})")
            continue
        if not isinstance(settings, dict) or set(settings) != {"consent"}:
            reader.problem(where, "must be {consent: sms} or {consent: own}")
            continue
        if settings["consent"] not in CONSENT_CHOICES:
            reader.problem(where + ("consent",), f"{settings['consent']!r} is not a choice: write sms (one consent "
                                                 "with SMS for the number) or own (its own consent)")
            continue
        consent[channel] = settings["consent"]
    return ChannelPolicy(MappingProxyType(consent), MappingProxyType(_read_buttons(reader, buttons, categories)))


def _read_buttons(reader, buttons, categories: tuple[str, ...]) -> dict[str, ButtonAction]:
    found: dict[str, ButtonAction] = {}
    if PROMOTIONS in categories:
        found[button_key(STOP_PROMOTIONS_TEXT)] = ButtonAction(OPT_OUT, (PROMOTIONS,), STOP_PROMOTIONS_TEXT)
    if buttons is None:
        return found
    if not isinstance(buttons, dict):
        reader.problem(("buttons",), "must map button payloads or texts to an action, like "
                                     "STOP_PROMOS: {action: opt_out, categories: [promotions]}")
        return found
    mine: set[str] = set()
    for written, meaning in buttons.items():
        where = ("buttons", written)
        key = button_key(str(written))
        if not key:
            reader.problem(where, "a button's payload or text must not be empty")
            continue
        if key in mine:
            reader.problem(where, "is mapped twice (payloads and texts are compared without case or spacing)")
            continue
        if not isinstance(meaning, dict) or not set(meaning) <= {"action", "categories"}:
            reader.problem(where, "must be {action: opt_out|opt_in|help, categories: [...]} (categories optional)")
            continue
        action, wanted = meaning.get("action"), meaning.get("categories") or []
        if action not in BUTTON_ACTIONS:
            reader.problem(where + ("action",), f"{action!r} is not an action: write opt_out, opt_in or help")
            continue
        if not isinstance(wanted, list) or any(c not in categories for c in wanted):
            reader.problem(where + ("categories",), "must list categories of this file "
                                                    f"({', '.join(categories) or 'none defined'})")
            continue
        if action == HELP and wanted:
            reader.problem(where + ("categories",), "a help button takes no categories")
            continue
        mine.add(key)
        found[key] = ButtonAction(action, tuple(dict.fromkeys(wanted)), str(written))
    return found
