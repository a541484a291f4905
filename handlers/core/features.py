"""A reply as the features the trained model reads: character n-grams of its words, its words and word
pairs, the words a negation governs, and a few marks of its shape. Pure and deterministic: training and
serving call the same code."""

from __future__ import annotations

import math
import re
from collections import Counter

from .text import words

# An email reply can run for pages; what it asks is in its first lines, and the model's time grows
# with the text. 600 characters hold the longest reply in the corpus above its signature.
MAX_CHARS = 600
CHAR_GRAMS = (2, 3, 4, 5)  # of each word padded with spaces: catch typos ("unsubscibe") and inflections
# Words after which the next few are negated ("don't unsubscribe me", "bitte nicht abmelden"), as text.words
# writes them ("don't" is "don t").
NEGATIONS = frozenset("""
    not no never t nt dont cannot nah nope neither nor
    nicht kein keine keinen keiner nie niemals
    pas ne jamais ni
    nunca ni tampoco
    nao nem
    non mai
    niet geen nooit
""".split())
NEGATION_REACH = 3
# An email's greeting, sign-off and signature say nothing of what it asks, yet in a short reply they are
# most of its words: "Remove me." above a dentist's four-line signature read as an ordinary message.
_SIGNATURE = re.compile(r"^\s*(--\s*|__+|—+|-{3,}.*)$")
_SENT_FROM = re.compile(r"^\s*(sent from|sent via|get outlook|envoy[ée] (de|depuis)|enviado (desde|do|de)|von meinem|"
                        r"gesendet von|inviato da|verzonden (vanaf|met)|verstuurd vanaf)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|greetings|to whom|bonjour|bonsoir|"
                       r"salut|madame|monsieur|hola|buen[oa]s|estimad[oa]s?|querid[oa]s?|hallo|guten|sehr geehrte|"
                       r"liebe|moin|servus|grüezi|ol[áa]|oi|bom dia|boa tarde|prezad[oa]s?|caro|cara|gentil[ei]|"
                       r"buongiorno|buonasera|ciao|salve|beste|geachte|goede(morgen|middag|navond)|hoi|dag)\b",
                       re.IGNORECASE)
_SIGN_OFF = re.compile(r"^\s*(thanks|thank you|thx|many thanks|regards|best|kind regards|cheers|sincerely|cordially|"
                       r"yours|cordialement|bien à vous|merci|bonne journée|salutations|saludos|un saludo|gracias|"
                       r"atentamente|un abrazo|viele grüße|vielen dank|danke|mfg|mit freundlichen|freundliche grüße|"
                       r"liebe grüße|lg|beste grüße|gruß|grüße|abraços?|obrigad[oa]|atenciosamente|att|cumprimentos|"
                       r"cordiali saluti|saluti|grazie|distinti saluti|un saluto|met vriendelijke groet|groet(en|jes)?|"
                       r"bedankt|dank je|dank u|mvg|vriendelijke groet)\b[\s\w,.!]{0,24}$", re.IGNORECASE)


def body(text: str) -> str:
    """A reply without its greeting line, sign-off and signature (only for replies of three lines or more:
    "Thanks!" alone is what it says)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return text
    kept = []
    for line in lines:
        if _SIGNATURE.match(line) or _SENT_FROM.match(line):
            break
        kept.append(line)
    if len(kept) > 1 and len(kept[0].split()) <= 5 and _GREETING.match(kept[0]):
        kept = kept[1:]
    for i in range(len(kept) - 1, 0, -1):
        if _SIGN_OFF.match(kept[i]) and len(kept) - i <= 6:
            kept = kept[:i]
            break
    return "\n".join(kept) if kept else text


def features(text: str) -> Counter:
    """Feature name -> count, for one message."""
    text = body((text or "")[:MAX_CHARS])
    tokens = words(text)
    found: Counter = Counter()
    negated_until = -1
    for i, token in enumerate(tokens):
        padded = f" {token} "
        for n in CHAR_GRAMS:
            for j in range(len(padded) - n + 1):
                found[padded[j:j + n]] += 1
        found["w:" + token] += 1
        if i <= negated_until:
            found["neg:" + token] += 1
        if token in NEGATIONS:
            negated_until = i + NEGATION_REACH
    for first, second in zip(tokens, tokens[1:], strict=False):
        found[f"b:{first} {second}"] += 1
    if "?" in text:
        found["mark:question"] += 1
    found[f"mark:length:{_length_bucket(len(tokens))}"] += 1
    return found


def weighted(counts: Counter, vocabulary: dict[str, int], idf) -> tuple[list[int], list[float]]:
    """(columns, values): sublinear term frequency times idf, scaled to unit length; unknown features dropped."""
    columns, values = [], []
    for name, count in counts.items():
        column = vocabulary.get(name)
        if column is not None:
            columns.append(column)
            values.append((1.0 + math.log(count)) * idf[column])
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return columns, [v / norm for v in values]


def _length_bucket(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "2" if n == 2 else "3-5" if n <= 5 else "6-12" if n <= 12 else "13+"
