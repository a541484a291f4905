"""The new text of an email reply, without the quoted message, its footer or a mobile signature below it.

Mail clients quote our whole marketing email under a reply, footer included, and that footer says
"unsubscribe" in the reader's language: only the text the person wrote may reach the classifier.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from email_reply_parser import EmailReplyParser

# A line (or two or three wrapped lines joined by a space) that introduces the quoted message:
# Gmail, Apple Mail, Yahoo and Thunderbird write "On <date>, <name> wrote:" in the reader's language.
# Each must also contain a digit (the date), so that "On second thought, ... wrote:" is not one.
ATTRIBUTIONS = {
    "en": (r"on\b.+\bwrote(?::|(?=\s*$))",),  # crisp's email_24 has no colon
    "fr": (r"le\b.+\ba\s+écrit\s*:",),
    "de": (r"am\b.+\bschrieb\b.*:", r"am\b.+\bhat\b.+\bfolgendes\s+geschrieben\s*:"),
    "es": (r"el\b.+\bescribió\s*:",),
    "pt": (r"(?:em|no dia|às)\b.+\bescreveu\s*:",),
    "it": (r"(?:il|in data)\b.+\bha\s+scritto\s*:",),
    "nl": (r"op\b.+\bschreef\b.*:", r"op\b.+\bheeft\b.+\bhet\s+volgende\s+geschreven\s*:"),
    # Any other language: a date, the sender's address in brackets, at most a verb, a colon
    # (Russian "... <a@b.c> написал:", Polish "W dniu ... <a@b.c> napisał:", "2017-11-24 16:32 ... <a@b.c>:").
    "*": (r".*[<(\[]\s*[^\s<>()\[\]]+@[^\s<>()\[\]]+\s*[>)\]][^<>\[\]@]{0,40}:",),
}

# A line that separates the reply from a quoted or forwarded message: "-----Original Message-----".
SEPARATOR_TITLES = {
    "en": ("original message", "forwarded message"),
    "fr": ("message d'origine", "message d’origine", "message original", "message transféré"),
    "de": ("ursprüngliche nachricht", "original-nachricht", "weitergeleitete nachricht"),
    "es": ("mensaje original", "mensaje reenviado"),
    "pt": ("mensagem original", "mensagem encaminhada", "mensagem reencaminhada"),
    "it": ("messaggio originale", "messaggio inoltrato"),
    "nl": ("oorspronkelijk bericht", "origineel bericht", "doorgestuurd bericht"),
    "da/no/sv": ("oprindelig besked", "opprinnelig melding", "ursprungligt meddelande", "videresendt besked"),
}
# Apple Mail's forwarding line: "Begin forwarded message:".
FORWARD_LINES = {
    "en": ("begin forwarded message",),
    "fr": ("début du message réexpédié", "début du message transféré"),
    "de": ("anfang der weitergeleiteten nachricht", "anfang der weitergeleiteten e-mail"),
    "es": ("inicio del mensaje reenviado", "comienzo del mensaje reenviado"),
    "pt": ("início da mensagem reencaminhada", "início da mensagem encaminhada"),
    "it": ("inizio messaggio inoltrato",),
    "nl": ("begin doorgestuurd bericht",),
}

# Outlook quotes a block of header fields and the whole message below it, without ">" marks:
# a sender or date field, then another field within the next three lines, starts the quoted history.
HEADER_FIELDS = {  # language: (fields that open the block, fields that follow)
    "en": (("from", "sent", "date"), ("to", "cc", "subject")),
    "fr": (("de", "envoyé", "envoyé le", "date", "message du"), ("à", "a", "cc", "objet", "sujet", "copie à")),
    "de": (("von", "gesendet", "datum"), ("an", "cc", "betreff")),
    "es": (("de", "enviado", "enviado el", "fecha"), ("para", "cc", "asunto")),
    "pt": (("de", "enviado", "enviada", "enviado em", "data"), ("para", "cc", "assunto")),
    "it": (("da", "inviato", "data"), ("a", "cc", "oggetto")),
    "nl": (("van", "verzonden", "datum"), ("aan", "cc", "onderwerp")),
    "da/no": (("fra", "sendt", "dato"), ("til", "emne")),
}
_HEADER_BLOCK_LINES = 4  # a field and the next one may have a wrapped address line between them

# The device in "Sent from my <device>": a word, then words that look like a model name, so that
# "Sent from my iPhone, please unsubscribe me" stays a sentence.
_DEVICE = (r"\S+(?: (?:(?-i:[A-Z0-9])\S*"
           r"|mini|pro|max|plus|smartphone|phone|tablet|device|appareil|gerät|móvil)){0,4}")
_APP = r"(?:yahoo mail|outlook|mail|aol|sparrow)(?: [\w.-]+){0,4}"
# Lines a phone or a mail app adds under the reply; anything below one is quoted history.
SIGNATURES = {
    "*": (r"--",),  # the RFC 3676 signature delimiter, "-- "
    "en": (rf"sent from my {_DEVICE}", rf"sent (?:from|with|via) {_APP}", r"get outlook for (?:ios|android)"),
    "fr": (rf"envoyé (?:de|depuis) mon {_DEVICE}", rf"envoyé (?:de|depuis|à partir de|avec|via) {_APP}",
           r"obtenir outlook pour (?:ios|android)"),
    "de": (rf"von meinem {_DEVICE} gesendet", rf"gesendet von meinem {_DEVICE}",
           rf"(?:gesendet (?:von|mit|über)|von) {_APP}(?: gesendet)?",
           r"outlook für (?:ios|android) (?:beziehen|herunterladen)"),
    "es": (rf"enviado desde mi {_DEVICE}", rf"enviado (?:desde|con) {_APP}", r"obtener outlook para (?:ios|android)"),
    "pt": (rf"enviado do meu {_DEVICE}", rf"enviado de (?:meu|minha) {_DEVICE}",
           rf"enviado (?:do|de|pelo|a partir do) {_APP}", r"obter o outlook para (?:ios|android)"),
    "it": (rf"inviato da(?:l mio)? {_DEVICE}", rf"inviato (?:da|con) {_APP}",
           r"(?:ottieni|scarica) outlook per (?:ios|android)"),
    "nl": (rf"(?:verzonden|verstuurd) (?:vanaf|van|met) (?:mijn )?{_DEVICE}",
           rf"(?:verzonden|verstuurd) (?:vanaf|met) {_APP}",
           r"(?:download )?outlook voor (?:ios|android)(?: downloaden)?"),
}


def _either(patterns) -> str:
    """One regex alternation of `patterns`."""
    return "|".join(f"(?:{p})" for p in patterns)


def _words(names) -> str:
    """One regex alternation of literal `names`, longest first, any run of spaces matching a space."""
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(set(names), key=len, reverse=True))


# Yahoo Mail for Android runs the quoted text on after the attribution, two spaces after its colon.
_ATTRIBUTION = re.compile(rf"(?:{_either(p for ps in ATTRIBUTIONS.values() for p in ps)})(?=\s{{2,}}\S|\s*$)",
                          re.I)
_SEPARATOR = re.compile(rf"-{{2,}}\s*(?:{_words(n for ns in SEPARATOR_TITLES.values() for n in ns)})\s*-{{2,}}"
                        rf"|(?:{_words(n for ns in FORWARD_LINES.values() for n in ns)})\s*:", re.I)
_FIRST_FIELD = re.compile(rf"\*?(?:{_words(n for first, _ in HEADER_FIELDS.values() for n in first)})\*?\s*:", re.I)
_HEADER_FIELD = re.compile(rf"\*?(?:{_words(n for fields in HEADER_FIELDS.values() for ns in fields for n in ns)})"
                           r"\*?\s*:", re.I)
# A signature may end with a full stop or the app's link: "Get Outlook for iOS<https://aka.ms/o0ukef>".
_SIGNATURE = re.compile(rf"(?:{_either(p for ps in SIGNATURES.values() for p in ps)})\.?\s*(?:[<(]\S*[>)])?", re.I)
_QUOTE_MARKS = re.compile(r"^(?:\s*>)+(?!:\s*$)")  # but a lone ">:" ends an address Gmail wrapped
_RULE = re.compile(r"[-_=*~#.\s]*")  # a line drawn with dashes, underscores or equals signs, or nothing
_MAX_ATTRIBUTION = 500  # characters: no attribution is longer, and a long paragraph is not scanned further
_WRAPPED = 3  # Gmail and Outlook wrap a long attribution over at most three lines
# email-reply-parser 0.5.12 joins "On ... wrote:" headers with a regex that retries from every "On"
# to the end of the text (2,000 characters of "On\n": 2 s; 5,000: 35 s; "On a " * 20,000: 7 s).
# Those headers are cut above already, so a word joiner inside each "On" gives it nowhere to start.
_ON = "O\u2060n"


def html_to_text(html: str) -> str:
    """The text of an HTML email as a reader sees it, without the quoted message (blockquotes and
    each client's quote container) and everything after Outlook's reply marker."""
    parser = _TextParser()
    parser.feed(html or "")
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_reply(text: str) -> str:
    """The new text of a plain-text reply, without quoted history or mobile signature; "" if none."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _history_start(lines)
    if not _has_text(lines[:start]) and start < len(lines):
        # Nothing above the quote: Thunderbird and mailing-list habits put the reply below it.
        below = _below_quote(lines, start)
        return extract_reply("\n".join(below)) if below else ""
    # Of the parser's fragments only the quoted ones ("> " lines, interleaved too) are dropped: its
    # signature and header guesses would also hide a request ("Sent from my phone: unsubscribe me",
    # "Subject: unsubscribe"), and the signatures and headers above were cut by the tables already.
    fragments = EmailReplyParser.read("\n".join(lines[:start]).replace("On", _ON)).fragments
    kept = "\n\n".join(f.content for f in fragments if not f.quoted).replace(_ON, "On").split("\n")
    # A rule that stood above the history ("====", Outlook's underscores) is not part of the reply.
    while kept and _RULE.fullmatch(kept[-1]):
        kept.pop()
    return "\n".join(kept).strip()


def reply_from(text: str | None, html: str | None) -> str:
    """The new reply of an email: from its plain-text part when it has one, else from its HTML."""
    body = text if text and text.strip() else html_to_text(html or "")
    return extract_reply(body)


def _history_start(lines: list[str]) -> int:
    """Index of the first line of quoted history or signature, or len(lines)."""
    for i in range(len(lines)):
        line = _unquoted(lines[i])
        if (_SEPARATOR.fullmatch(line) or _SIGNATURE.fullmatch(line) or _attribution_end(lines, i) is not None
                or _header_block_at(lines, i)):
            return i
    return len(lines)


def _attribution_end(lines: list[str], i: int) -> int | None:
    """The index after an attribution ("On ... wrote:") starting at line i, or None."""
    for n in range(1, _WRAPPED + 1):
        window = [_unquoted(line) for line in lines[i:i + n]]
        if len(window) < n or not all(window):
            return None
        # If the lines after the first already make an attribution, the first is the reply's own text.
        if _is_attribution(" ".join(window)) and not (n > 1 and _is_attribution(" ".join(window[1:]))):
            return i + n
    return None


def _is_attribution(joined: str) -> bool:
    """True if `joined` opens with an attribution that contains a digit."""
    match = _ATTRIBUTION.match(joined[:_MAX_ATTRIBUTION])
    return match is not None and re.search(r"\d", match.group()) is not None


def _header_block_at(lines: list[str], i: int) -> bool:
    """True if line i is a sender or date field followed closely by another (Outlook's quoted headers)."""
    if not _FIRST_FIELD.match(_unquoted(lines[i])):
        return False
    for line in lines[i + 1:i + _HEADER_BLOCK_LINES]:
        line = _unquoted(line)
        if not line:
            return False
        if _HEADER_FIELD.match(line):
            return True
    return False


def _below_quote(lines: list[str], start: int) -> list[str]:
    """The lines under a "> "-quoted message that opens the body (a bottom-posted reply), else []."""
    i = _attribution_end(lines, start) or start
    while i < len(lines) and not lines[i].strip():
        i += 1
    # Without "> " marks the quote has no visible end, so nothing under it can be told from history.
    if i == len(lines) or not lines[i].lstrip().startswith(">"):
        return []
    while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
        i += 1
    return lines[i:]


def _unquoted(line: str) -> str:
    """The line without its "> " quote marks and surrounding space."""
    return _QUOTE_MARKS.sub("", line).replace("\xa0", " ").strip()


def _has_text(lines: list[str]) -> bool:
    """True if any line is not blank."""
    return any(line.strip() for line in lines)


# Tags whose content a reader never sees.
_HIDDEN_TAGS = frozenset({"head", "style", "script", "title", "template"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source",
                        "track", "wbr", "param"})
_BLOCK_TAGS = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4",
                         "h5", "h6", "section", "article", "header", "footer", "dd", "dt", "dl", "center", "address"})
# Classes and ids of the elements in which each client puts the quoted message (substrings:
# Yahoo writes "ydp3a9c1e2byahoo_quoted_1234"); Thunderbird's cite prefix is its "On ... wrote:".
_QUOTE_CLASSES = ("gmail_quote", "gmail_attr", "yahoo_quoted", "moz-cite-prefix")
_QUOTE_IDS = ("yahoo_quoted",)
# Outlook (desktop and web) marks where the quoted message begins; everything after it is history.
_HISTORY_IDS = ("divrplyfwdmsg", "appendonsend")


class _TextParser(HTMLParser):
    """Collects the visible text of an HTML body in `out`, skipping hidden and quoted elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # open elements, and whether each hides its content
        self.hidden = 0  # open elements hiding their content
        self.pre = 0
        self.line_has_text = False
        self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done:
            return
        attributes = {name: (value or "") for name, value in attrs}
        ident = attributes.get("id", "").lower()
        if any(marker in ident for marker in _HISTORY_IDS) or (tag == "hr" and ident):
            self.done = True  # an <hr id=...> is the Outlook-web or Zimbra line above the quoted headers
            return
        if tag == "body":
            self._close("head")
        if tag in ("br", "hr"):
            self._write("\n")
        elif tag in _BLOCK_TAGS:
            self._break()
        elif tag in ("td", "th"):
            self._write(" ")
        if tag in _VOID_TAGS:
            return
        classes = attributes.get("class", "").lower()
        hides = (tag in _HIDDEN_TAGS or tag == "blockquote" or any(c in classes for c in _QUOTE_CLASSES)
                 or any(i in ident for i in _QUOTE_IDS))
        self.stack.append((tag, hides))
        self.hidden += hides
        self.pre += tag == "pre"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS and not self.done:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.done:
            return
        if self._close(tag) and tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data):
        if self.done:
            return
        self._write(data if self.pre else re.sub(r"[ \t\r\n\f]+", " ", data))

    def _close(self, tag: str) -> bool:
        """Close the innermost open `tag` and what is left open inside it; False if none is open."""
        if not any(open_tag == tag for open_tag, _ in self.stack):
            return False
        while True:
            open_tag, hides = self.stack.pop()
            self.hidden -= hides
            self.pre -= open_tag == "pre"
            if open_tag == tag:
                return True

    def _write(self, text: str):
        if not self.hidden:
            self.out.append(text)
            if text.strip():
                self.line_has_text = not text.endswith("\n")
            elif "\n" in text:
                self.line_has_text = False

    def _break(self):
        """End the line, unless it is empty: blocks one inside another make one line break, as on screen."""
        if self.line_has_text:
            self._write("\n")
