"""Normalisation and SMS encoding, as tables."""

import pytest

from handlers.core.text import sms_encoding, sms_segments, words


@pytest.mark.parametrize("text, expected", [
    ("STOP", ("stop",)),
    ("Stop.", ("stop",)),
    (" stop!! ", ("stop",)),
    ("\u201cStop\u201d", ("stop",)),
    ("🛑 STOP 🛑", ("stop",)),
    ("ARRÊT", ("arret",)),
    ("arre\u0302t", ("arret",)),  # decomposed accent
    ("ＳＴＯＰ", ("stop",)),  # full-width letters (NFKC)
    ("opt-out", ("opt", "out")),
    ("Opt  Out", ("opt", "out")),
    ("OPTOUT", ("optout",)),
    ("ne m'envoyez plus", ("ne", "m", "envoyez", "plus")),
    ("ne m\u2019envoyez plus", ("ne", "m", "envoyez", "plus")),
    ("Straße", ("strasse",)),
    ("NO ME ENVÍEN MÁS", ("no", "me", "envien", "mas")),
    ("stop\u00a0all", ("stop", "all")),
    ("stop\nall\t", ("stop", "all")),
    ("", ()),
    ("!!! 👍", ()),
    ("STOP_ALL", ("stop", "all")),
])
def test_words(text, expected):
    assert words(text) == expected


@pytest.mark.parametrize("text, encoding, length, segments", [
    ("Reply STOP to opt out", "GSM-7", 21, 1),
    ("Antworten Sie STOPP. Für Hilfe: HILFE", "GSM-7", 37, 1),
    ("Prix: 5€ [promo]", "GSM-7", 19, 1),  # € [ ] cost two septets each
    ("Reply \u201cSTOP\u201d", "UCS-2", 12, 1),
    ("ça", "UCS-2", 2, 1),
    ("x" * 160, "GSM-7", 160, 1),
    ("x" * 161, "GSM-7", 161, 2),
    ("ç" * 70, "UCS-2", 70, 1),
    ("ç" * 71, "UCS-2", 71, 2),
    ("👍", "UCS-2", 2, 1),  # a surrogate pair is two UCS-2 units
])
def test_sms_encoding(text, encoding, length, segments):
    assert sms_encoding(text) == (encoding, length)
    assert sms_segments(text) == segments
