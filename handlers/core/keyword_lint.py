"""What `flask check-keywords` warns about in a table that loads: carrier keywords read differently, words
shared by several languages, replies that do not name the brand when there are several."""

from __future__ import annotations

from .channels import OWN, STOP_PROMOTIONS_TEXT, button_key
from .keywords import WORD_LISTS, KeywordTable

# Words carriers and Twilio act on by themselves (CTIA; Twilio's defaults; ALTO/AYUDA for US Spanish,
# ARRET/AIDE for Canada): if the table reads them differently, the carrier and this service disagree.
CARRIER_WORDS = {
    "stop": "opt_out", "stopall": "opt_out", "unsubscribe": "opt_out", "cancel": "opt_out", "end": "opt_out",
    "quit": "opt_out", "revoke": "opt_out", "optout": "opt_out", "alto": "opt_out", "arret": "opt_out",
    "start": "opt_in", "yes": "opt_in", "unstop": "opt_in",
    "help": "help", "info": "help", "ayuda": "help", "aide": "help",
}


def warnings(table: KeywordTable) -> list[str]:
    """Things that load fine but deserve a look: carrier words read differently, shared words."""
    found = []
    for word, action in CARRIER_WORDS.items():
        entry = table.entries.get((word,))
        if entry is None:
            found.append(f"carrier keyword {word.upper()} is not in the table: carriers act on it "
                         f"({action}) but this service would not record it")
        elif entry.kind == "category":
            found.append(f"carrier keyword {word.upper()} is a category name ({entry.category}): carriers "
                         f"read it as {action}")
        elif WORD_LISTS[entry.kind] != action:
            found.append(f"carrier keyword {word.upper()} means {WORD_LISTS[entry.kind]} here "
                         f"(languages.{entry.languages[0]}.{entry.kind}) but {action} to carriers")
    policy = table.channel_policy
    for channel, consent in policy.consent.items():
        if consent != OWN and channel == "whatsapp":
            found.append("channels.whatsapp shares SMS consent: a WhatsApp choice recorded while it had its own "
                         "is not read while linked (README, \"WhatsApp and RCS\")")
        if consent == OWN and channel == "rcs":
            found.append("channels.rcs has its own consent, but Twilio blocks SMS and RCS together after a STOP on "
                         "either (error 21610): this service would allow what Twilio refuses")
    if button_key(STOP_PROMOTIONS_TEXT) not in policy.buttons:
        found.append(f"no category promotions and no button {STOP_PROMOTIONS_TEXT!r}: WhatsApp's \"Stop promotions\" "
                     "tap is read as words, which may stop everything")
    shared = sorted((" ".join(key), entry.languages) for key, entry in table.entries.items()
                    if entry.kind != "category" and len(entry.languages) > 1 and len(key) == 1)
    if shared:
        found.append("keywords shared by several languages; replies to them use the person's earlier language, "
                     "else their country's, else the first listed: "
                     + "; ".join(f"{word} ({' '.join(langs)})" for word, langs in shared))
    found.extend(brand_warnings(table))
    return found


def brand_warnings(table: KeywordTable) -> list[str]:
    """With brands: SMS replies that do not name the brand ({brand}), so that a person who wrote to one of
    several senders cannot tell whose messages stopped; and a first word of every_brand_words that no
    language's stop list holds (it would never be read as an opt-out at all)."""
    if not table.brands.brands:
        return []
    found = []
    for code, lang in table.languages.items():
        for kind in ("stopped_all", "stopped_categories", "help"):
            if "{brand}" not in lang.replies.get("sms", {}).get(kind, "{brand}"):
                found.append(f"languages.{code}.replies.sms.{kind} does not name the brand ({{brand}}): with "
                             "several brands, the person cannot tell whose messages this is about")
    for words in sorted(table.brands.every_brand_words):
        entry = table.entries.get(words)
        if entry is None or entry.kind not in ("stop", "stop_weak"):
            found.append(f"every_brand_words: {' '.join(words)!r} is no stop word: it never stops every brand")
    return found
