"""Reading an email's headers, whichever provider delivered it: decoding (RFC 2047, raw UTF-8, declared
charsets), addresses, and the receiving server's SPF and DKIM verdicts (RFC 7208, RFC 8601)."""

from __future__ import annotations

import codecs
import email
import email.utils
import re
from collections.abc import Iterable, Sequence
from email import policy
from email.header import decode_header, make_header

from ..core.addresses import InvalidAddress, mailbox

Headers = Sequence[tuple[str, str]]

# Declared charsets that senders routinely get wrong: decode with the superset they meant
# (the WHATWG Encoding Standard does the same), so curly quotes and euro signs survive.
_SUPERSETS = {
    "iso-8859-1": "cp1252", "iso_8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "gb2312": "gb18030", "gbk": "gb18030", "ks_c_5601-1987": "cp949",
}
# 8-bit text under these labels (or none) is UTF-8 when it decodes as such, else Windows-1252.
_UNDECLARED = {"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown"}
LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")
_ADDRESS_HEADERS = frozenset({"from", "sender", "reply-to", "to", "cc", "delivered-to", "x-original-to"})
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,900}>")  # printable ASCII, no < or > inside


def header_pairs(message: email.message.Message) -> tuple[tuple[str, str], ...]:
    """Every header of a parsed message, in order, unfolded and decoded (RFC 2047 and raw UTF-8)."""
    # raw_items(), not items(): one header the registry cannot parse must not cost us the others.
    return tuple((name, _decode_header_value(name, value)) for name, value in message.raw_items())


def parse_header_block(text: str) -> tuple[tuple[str, str], ...]:
    """Headers from a raw header block (SendGrid's `headers` field), decoded like parse_mime's."""
    block = LINE_BREAKS.sub("\r\n", text.strip("\r\n")) + "\r\n\r\n"
    return header_pairs(email.message_from_string(block, policy=policy.default))


def first(headers: Headers, name: str) -> str | None:
    """The topmost header of that name (case-insensitive), or None."""
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def every(headers: Headers, name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


def decode_words(value: str) -> str:
    """Unfold a header value and decode any RFC 2047 encoded-words left in it."""
    value = LINE_BREAKS.sub("", value)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # a broken encoded-word: keep the text as sent rather than lose the header
        return value


def address(value: str | None) -> str:
    """The first address in an address header, as written ("" when there is none)."""
    if not value:
        return ""
    try:
        for mailbox in policy.default.header_factory("to", value).addresses:
            if mailbox.addr_spec and mailbox.addr_spec != "<>":
                return mailbox.addr_spec
    except Exception:
        pass
    found = email.utils.parseaddr(value)[1]
    return "" if found in ("<>", "") or found.endswith(":;") else found


def sender_address(value: str | None) -> str:
    """The mailbox of a From header, normalised (core.addresses.mailbox: the last <...>, never anything a
    display name says); when it names none we can use, the value as written, which reading.to_inbound
    then records as an unusable sender. "" when there is no value."""
    try:
        return mailbox(value or "")
    except InvalidAddress:
        return (value or "").strip()


def message_id(value: str | None) -> str | None:
    """A Message-ID we may put into In-Reply-To: <left@right> in printable ASCII, else None."""
    value = (value or "").strip()
    return value if _MESSAGE_ID.fullmatch(value) else None


def envelope_address(value: str) -> str:
    """A Return-Path or envelope sender: the address, or "" for the null sender <>."""
    inner = value.strip().removeprefix("<").removesuffix(">").strip()
    if not inner:
        return ""
    return email.utils.parseaddr(inner)[1] or inner


def mime_type(content_type: str | None, default: str = "text/plain") -> str:
    """The bare type of a Content-Type value: multipart/report from 'multipart/report; report-type=...'."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return value if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", value) else default


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in a declared charset; unknown charsets read as UTF-8, undecodable bytes as U+FFFD."""
    name = (charset or "").strip().strip('"').lower()
    if name in _UNDECLARED:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")
    name = _SUPERSETS.get(name, name)
    try:
        codecs.lookup(name)
    except LookupError:
        name = "utf-8"
    return data.decode(name, errors="replace")


def spf_word(value: str | None) -> str | None:
    """'pass' from 'Pass (sender SPF authorized) identity=mailfrom; ...' (Received-SPF, RFC 7208 9.1)."""
    match = _FIRST_WORD.match(value or "")
    return match.group(1).lower() if match else None


def authentication(headers: Headers, trusted_ids) -> tuple[str | None, tuple[str, ...]]:
    """(spf result, domains verified) from the Authentication-Results of our own receiving servers.

    `trusted_ids` are their authserv-ids (TRUSTED_AUTHSERV_IDS). Of each, only the topmost header
    counts: a receiving server adds its results above the message it received, and anything lower,
    a header naming that same server included, may have been written by the sender (RFC 8601
    section 5 asks the server to remove those; not every one does). A header naming no trusted
    server, or none (Microsoft 365 writes none), is never believed.
    """
    trusted = {i.strip().lower() for i in trusted_ids if i.strip()}
    topmost: dict[str, str] = {}
    for value in every(headers, "Authentication-Results"):
        authserv_id = _authserv_id(value)
        if authserv_id in trusted:
            topmost.setdefault(authserv_id, value)
    return parse_authentication_results(topmost.values())


def only(headers: Headers, name: str) -> str | None:
    """The value of a header that appears exactly once, else None: a provider's own verdict header
    (X-Spam-Tests, X-Mailgun-Spf) seen twice means the sender wrote one too, so neither is believed."""
    values = every(headers, name)
    return values[0] if len(values) == 1 else None


def parse_authentication_results(values: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """(spf result, domains verified) from Authentication-Results values (RFC 8601).

    'mx.example; dkim=pass header.i=@gmail.com header.s=x; spf=pass (...) smtp.mailfrom=a@gmail.com'
    gives ('pass', ('gmail.com',)). A domain is verified by dkim=pass (its header.d, else header.i),
    spf=pass (smtp.mailfrom's domain) or dmarc=pass (header.from). The first spf= wins.
    """
    spf: str | None = None
    domains: list[str] = []
    for value in values:
        for resinfo in _strip_comments(value).split(";"):
            tokens = resinfo.split()
            if not tokens or "=" not in tokens[0]:
                continue  # the authserv-id (Microsoft 365 leaves it out), or "none"
            method, _, result = tokens[0].partition("=")
            method, result = method.split("/")[0].lower(), result.lower()
            properties = {key.lower(): val.strip('"') for key, _, val in (t.partition("=") for t in tokens[1:])}
            if method == "spf" and spf is None:
                spf = result
            if result != "pass" or method not in _VERIFYING:
                continue
            domain = next((properties[key] for key in _VERIFYING[method] if properties.get(key)), "")
            domain = domain.rpartition("@")[2].lower().rstrip(".")
            if domain and domain not in domains:
                domains.append(domain)
    return spf, tuple(domains)


# The property naming the domain each method's pass verifies, in order of preference.
_VERIFYING = {"dkim": ("header.d", "header.i"), "spf": ("smtp.mailfrom",), "dmarc": ("header.from",)}


def _decode_header_value(name: str, value: str) -> str:
    if name.lower() in _ADDRESS_HEADERS:
        # Decoded word by word, never re-rendered: the registry rewrites a malformed address list
        # ("Eve Bcc: thief@... <real@...>" becomes a group of thief@...), losing the real mailbox.
        text = decode_words(value)
    else:
        try:
            text = str(policy.default.header_fetch_parse(name, value))
        except Exception:  # a header the registry cannot parse (a broken encoded-word)
            text = decode_words(value)
    text = LINE_BREAKS.sub("", text)
    # 8-bit header bytes (RFC 6532 UTF-8, or a careless sender) come through as surrogate escapes.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _authserv_id(value: str) -> str:
    head = _strip_comments(value).split(";", 1)[0].split()
    return "" if not head or "=" in head[0] else head[0].lower()


def _strip_comments(value: str) -> str:
    """The value without (comments), which may nest, and without the ';' inside "quoted strings"
    (reason="..."), so that splitting on ';' finds the results."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if not depth:
                out.append(char)
        elif char == "\\" and (depth or quoted):
            escaped = True
        elif quoted:
            quoted = char != '"'
            out.append(" " if char == ";" else char)
        elif char == '"' and not depth:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
            if depth == 1:
                out.append(" ")
        elif char == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out)
