"""Decisions in an operator's words: "Opted out of everything (keyword STOP)", "Not an opt-out (the word
'end' in a sentence)", never opt_out / weak_word_in_message. The classifier's own rules are worded in
core/classifier.py RULES; the rules made outside it (pages, reviews, providers) are worded here."""

from __future__ import annotations

from ..core.classifier import RULES

ACTIONS = {
    "opt_out": "Opted out of {scope}",
    "opt_in": "Opted back in to {scope}",
    "help": "Asked for help",
    "asked": "Asked whether they meant to stop (ambiguous: ask)",
    "none": "Not an opt-out",
    "refused": "Opt-in refused",
}
# The channels as people write them (never "EMAIL").
CHANNEL_NAMES = {"sms": "SMS", "email": "Email", "whatsapp": "WhatsApp", "rcs": "RCS"}
# The decisions as a filter names them.
FILTERS = {"opt_out": "Opt-outs", "opt_in": "Opt-ins", "help": "Help requests", "asked": "Asked to confirm",
           "none": "No action", "refused": "Refused opt-ins"}
# Why, in a few words; {matched} is the keyword or phrase as written in keywords.yaml. A rule not
# listed here (a new one) is explained by RULES, else shown by its name.
REASONS = {
    "keyword": "keyword {MATCHED}",
    "keyword_with_categories": "keyword {MATCHED} followed by the category",
    "leading_keyword": "starts with the word '{matched}'",
    "phrase": "the phrase '{matched}'",
    "stop_word_in_message": "the word '{matched}' inside a longer message",
    "keyword_typo": "a misspelling of keyword {MATCHED}",
    "request": "asked in other words: '{matched}'",
    "stop_word_in_idiom": "the word '{matched}' in an idiom",
    "weak_word_in_message": "the word '{matched}' in a sentence",
    "reaction": "a phone's reaction quoting our message",
    "no_match": "no keyword or phrase",
    "subject_keyword": "keyword {MATCHED} as the email's subject",
    "opt_in_from_unverified_sender": "the sender's address was not verified by SPF or DKIM",
    "provider": "Twilio had already acted on its own keyword",
    "ignored": "automatic mail: {matched}",
    "one_click": "one-click unsubscribe in the mail client",
    "preference_page": "on the preference page",
    "older_than_a_recorded_decision": "older than a decision already recorded",
    "model": "the trained model, {confidence} sure",
    "model_unsure": "the trained model, only {confidence} sure",
    "model_overruled": "a rule read an opt-out; the trained model, {confidence} sure, did not",
    "provider_event:feedback-report-redacted": "a spam complaint whose recipient the feedback loop redacted",
}
# For charts: the reason without the word that matched.
KINDS = {
    "keyword": "Keyword (STOP ...)",
    "keyword_with_categories": "Keyword and category",
    "leading_keyword": "Starts with a stop word",
    "phrase": "Phrase (\"remove me ...\")",
    "stop_word_in_message": "Stop word in a message",
    "keyword_typo": "Misspelt keyword",
    "request": "Request in other words",
    "subject_keyword": "Keyword as email subject",
    "provider": "Twilio's own keyword",
    "one_click": "One-click unsubscribe",
    "preference_page": "Preference page",
    "model": "Trained model",
    "model_unsure": "Trained model, unsure",
}


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel.capitalize())


def reason(rule: str | None, matched: str | None = None, confidence: float | None = None) -> str:
    """Why a decision was made, in words."""
    rule = rule or ""
    sure = f"{confidence:.0%}" if confidence is not None else "?"
    if rule.startswith("review:"):
        return "an operator's correction"
    if rule in REASONS:
        return REASONS[rule].format(matched=matched or "", MATCHED=(matched or "").upper(), confidence=sure)
    if rule in RULES:
        return RULES[rule].format(matched=matched, language="", confidence=sure).replace(" ()", "")
    return rule.replace("_", " ")


def describe(action: str, categories: list[str] | tuple[str, ...], rule: str | None, matched: str | None,
             confidence: float | None = None) -> str:
    """The whole decision in words: "Opted out of surveys (keyword UNSUBSCRIBE and a category)"."""
    scope = ", ".join(categories) if categories else "everything"
    what = ACTIONS.get(action, action).format(scope=scope)
    return f"{what} ({reason(rule, matched, confidence)})"


def kind(rule: str) -> str:
    """A short name for a chart's row: how the opt-out was asked for."""
    if rule.startswith("review:"):
        return "Operator's correction"
    return KINDS.get(rule) or reason(rule).capitalize()
