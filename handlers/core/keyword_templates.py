"""Checks of keywords.yaml's reply templates: known placeholders, GSM-7 characters in SMS, one SMS each."""

from __future__ import annotations

import string

from .keyword_reader import KeywordReader
from .keywords import PLACEHOLDERS, KeywordTable
from .text import GSM7_LOOKALIKES, sms_encoding, sms_segments


def check_template(reader: KeywordReader, where, template: str, sms: bool) -> None:
    """Note a broken or unknown placeholder, and in an SMS a character that forces UCS-2 for no need."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        reader.problem(where, f"broken placeholder ({e}); write {{{{ and }}}} for literal braces")
        return
    for name in fields:
        if name not in PLACEHOLDERS:
            reader.problem(where, f"unknown placeholder {{{name}}}; known: "
                                  + ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS)))
    lookalikes = sorted({ch for ch in template if ch in GSM7_LOOKALIKES}) if sms else []
    if lookalikes:
        fixes = ", ".join(f"{ch!r} -> {GSM7_LOOKALIKES[ch]!r}" for ch in lookalikes)
        reader.problem(where, f"uses characters that force UCS-2 (70 characters a text) where GSM-7 has "
                              f"the same: {fixes}")


def check_replies_fit(reader: KeywordReader, table: KeywordTable) -> None:
    """Every reply, with the longest values its placeholders can take (each brand's name and help contact
    too), fits one SMS segment."""
    for code, lang in table.languages.items():
        for kind in lang.replies.get("sms", {}):
            for brand in (None, *table.brands.brands):
                text = table.render("sms", kind, code, table.categories, brand)
                if sms_segments(text) > 1:
                    encoding, length = sms_encoding(text)
                    limit = 160 if encoding == "GSM-7" else 70
                    reader.problem(("languages", code, "replies", "sms", kind),
                                   f"does not fit one SMS: {length} characters in {encoding} (limit {limit}) "
                                   f"when filled in as {text!r}")
                    break
