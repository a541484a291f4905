"""Each email provider's real payload shape (tests/data/email/) becomes the same Mail.

The Mailgun fixture is signed with the webhook signing key "test-mailgun-signing-key" (MAILGUN_KEY
below): signature = hex HMAC-SHA256(key, timestamp + token), as Mailgun documents.
"""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from handlers.core.inbound import ProviderError
from handlers.email.headers import authentication, parse_authentication_results
from handlers.providers.mailgun import inbound as mailgun
from handlers.providers.mime.inbound import parse_mime
from handlers.providers.postmark import inbound as postmark
from handlers.providers.sendgrid import inbound as sendgrid

DATA = Path(__file__).parent / "data" / "email"
MAILGUN_KEY = "test-mailgun-signing-key"


def fields(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def load(name: str):
    if name.endswith(".eml"):
        return parse_mime((DATA / name).read_bytes())
    adapter = {"sendgrid": sendgrid, "mailgun": mailgun, "postmark": postmark}[name.split("_")[0]]
    return adapter.parse(fields(name))


def sign(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


# fixture, exact fields, text contains, html contains ("" = no such body)
FIXTURES = [
    ("reply_gmail.eml", dict(
        provider="mime", sender="marie.dupont@gmail.com", envelope_from="marie.dupont@gmail.com",
        recipient="news@acme.example", subject="Re: Nouveautés de printemps : -20 % sur les vestes",
        content_type="multipart/alternative", spf=None, dkim_pass_domains=(), provider_id=None,  # no provider's verdict
        message_id="<CAH7vQ2kP1x9Lr3nF0eZqT8wB5uYd4Jm6sC=Xg2a1Vb7oN3pRtw@mail.gmail.com>"),
     ["Désabonnez-moi de cette liste", "> Outfitters. Se désabonner : https://acme.example/u/8f3a2c"],
     ["Désabonnez-moi de cette liste", 'class="gmail_quote']),
    ("out_of_office.eml", dict(
        provider="mime", sender="jean.martin@entreprise.example", envelope_from="jean.martin@entreprise.example",
        subject="Réponse automatique : Nouveautés de printemps : -20 % sur les vestes", content_type="text/plain",
        spf=None, dkim_pass_domains=(), auto_submitted="auto-replied",
        message_id="<PR3P195MB0712C8B5A1E44F3D9A6E2B1FC4C92@PR3P195MB0712.EURP195.PROD.OUTLOOK.COM>"),
     ["absent du bureau", "un accès limité à mes e-mails"], ""),
    ("bounce.eml", dict(
        provider="mime", sender="mailer-daemon@mx.example.net", envelope_from="", recipient="bounces@acme.example",
        subject="Undelivered Mail Returned to Sender", content_type="multipart/report", spf=None,
        dkim_pass_domains=(), auto_submitted="auto-replied",
        message_id="<20250303080014.4Z6Qm03VqKz3wXy@mx.example.net>"),  # not the bounced message's own
     ["could not\nbe delivered", '<paul.durand@example.net>: unknown user: "paul.durand"'], ""),
    ("html_only.eml", dict(
        provider="mime", sender="k.schneider@firma.example", subject="AW: Frühjahrsneuheiten: 20 % auf alle Jacken",
        content_type="text/html", text=None, spf=None, dkim_pass_domains=(),
        message_id="<AS8PR04MB8453E1A2B3C4D5E6F7A8B9C0D1E2F@AS8PR04MB8453.eurprd04.prod.outlook.com>"),
     "", ["Bitte nehmen Sie mich aus Ihrem Verteiler", 'id="divRplyFwdMsg"', "Mit freundlichen Grüßen"]),
    ("sendgrid_parsed.json", dict(
        provider="sendgrid", sender="emma.walsh@gmail.com", envelope_from="emma.walsh@gmail.com",
        recipient="news@reply.acme.example", subject="Re: Spring arrivals: 20% off every jacket",
        content_type="multipart/alternative", spf="pass", dkim_pass_domains=("gmail.com",), provider_id=None,
        message_id="<CAKx9vR3mQ7wT1yU5iO9pA3sD7fG1hJ5kL9zX3cV7bN1mQ5wE9r@mail.gmail.com>"),
     ["Please unsubscribe me.", "> newsletter. Unsubscribe: https://acme.example/u/7d41e0"],
     ["Please unsubscribe me.", ">Unsubscribe</a>"]),
    ("sendgrid_raw.json", dict(
        provider="sendgrid", sender="jonas.becker@icloud.com", envelope_from="jonas.becker@icloud.com",
        recipient="news@reply.acme.example", subject="Re: Frühjahrsneuheiten: 20 % auf alle Jacken",
        content_type="text/plain", spf="pass", dkim_pass_domains=("icloud.com",), html=None,
        message_id="<7E1C9A52-3B4D-4F6E-8A7B-9C0D1E2F3A4B@icloud.com>"),
     ["Bitte streichen Sie mich aus Ihrem Verteiler.", "> Frühjahrsneuheiten: 20 % auf alle Jacken"], ""),
    ("mailgun_route.json", dict(
        provider="mailgun", sender="lucia.garcia@correo.example", envelope_from="lucia.garcia@correo.example",
        recipient="news@mg.acme.example", subject="RE: Novedades de primavera: -20 % en todas las chaquetas",
        content_type="multipart/alternative", spf="pass", dkim_pass_domains=("correo.example",),
        stripped_text="Por favor, denme de baja de esta lista de correo.", provider_id=None,
        from_header="Lucía García <lucia.garcia@correo.example>",  # RFC 2047 in message-headers, decoded
        message_id="<PAXPR09MB6342B7C1D5E9F3A2B8C4D6E0F1A3B5C7@PAXPR09MB6342.eurprd09.prod.outlook.com>"),
     ["Por favor, denme de baja", "Darse de baja: https://acme.example/u/9a4f21"], ['id="divRplyFwdMsg"']),
    ("postmark_inbound.json", dict(
        provider="postmark", sender="giulia.rossi@posta.example", envelope_from="giulia.rossi@posta.example",
        recipient="reply+c7d2e9@inbound.acme.example", subject="Re: Novità di primavera: -20% su tutte le giacche",
        content_type="multipart/alternative", spf="pass", dkim_pass_domains=("posta.example",),
        provider_id="5f3b8a1e-2c4d-4e6f-9a7b-8c9d0e1f2a3b",
        stripped_text="Per favore cancellatemi dalla vostra lista.\n\nGrazie,\nGiulia",
        message_id="<CAJr8s0Zq4mB7vC1xZ5aS9dF2gH6jK0lP4oI8uY3tR7eW1q@mail.gmail.com>"),
     ["Per favore cancellatemi", "Annulla l'iscrizione: https://acme.example/u/c7d2e9"], ["Per favore cancellatemi"]),
]


@pytest.mark.parametrize("name, expected, text_has, html_has", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_each_fixture_parses_to_the_mail_a_reader_needs(name, expected, text_has, html_has):
    mail = load(name)
    seen = {key: getattr(mail, key) for key in expected if hasattr(mail, key)}
    seen.update({"message_id": mail.header("Message-ID"), "auto_submitted": mail.header("auto-submitted"),
                 "from_header": mail.header("From")})
    assert {key: seen[key] for key in expected} == expected
    for snippet in text_has or []:
        assert snippet in mail.text
    for snippet in html_has or []:
        assert snippet in mail.html
    assert (mail.text is None) == (text_has == "") and (mail.html is None) == (html_has == "")
    assert "\r" not in (mail.text or "") + (mail.html or "")


def test_the_mailgun_fixture_is_signed_with_the_test_key():
    f = fields("mailgun_route.json")
    assert f["signature"] == sign(MAILGUN_KEY, f["timestamp"], f["token"])


FIXTURE = fields("mailgun_route.json")
TS, TOKEN, SIGNATURE = FIXTURE["timestamp"], FIXTURE["token"], FIXTURE["signature"]


@pytest.mark.parametrize("key, timestamp, token, signature, now, reason", [
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE, int(TS) + 30, None),
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE.upper(), int(TS) + 30, None),
    ("another-signing-key", TS, TOKEN, SIGNATURE, int(TS) + 30, "bad signature"),
    (MAILGUN_KEY, TS, TOKEN[:-1] + "0", SIGNATURE, int(TS) + 30, "bad signature"),
    (MAILGUN_KEY, str(int(TS) + 1), TOKEN, SIGNATURE, int(TS) + 30, "bad signature"),
    (MAILGUN_KEY, TS, TOKEN, "", int(TS) + 30, "bad signature"),
    (MAILGUN_KEY, TS, TOKEN, "é" * 64, int(TS) + 30, "bad signature"),
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE, int(TS) + 901, "stale timestamp"),
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE, int(TS) - 901, "timestamp in the future"),
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE, int(TS) - 301, "timestamp in the future"),
    (MAILGUN_KEY, TS, TOKEN, SIGNATURE, int(TS) - 299, None),
    (MAILGUN_KEY, "nan", TOKEN, sign(MAILGUN_KEY, "nan", TOKEN), int(TS), "stale timestamp"),
    (None, TS, TOKEN, SIGNATURE, int(TS) + 30, "no signing key configured"),
    ("", TS, TOKEN, SIGNATURE, int(TS) + 30, "no signing key configured"),
], ids=["good", "upper-case hex", "wrong key", "tampered token", "tampered timestamp", "no signature",
        "non-ascii signature", "stale", "from the future", "over 5 minutes ahead", "a clock a little behind",
        "nan timestamp", "no key", "empty key"])
def test_mailgun_verify(key, timestamp, token, signature, now, reason):
    assert mailgun.verify(key, timestamp, token, signature, now=now) == reason


def _without(name, *keys, **changes):
    data = {k: v for k, v in fields(name).items() if k not in keys}
    return {**data, **changes}


MALFORMED = [
    (mailgun.parse, _without("mailgun_route.json", "from", "From", **{"message-headers": "[]"})),
    (sendgrid.parse, _without("sendgrid_parsed.json", "headers")),
    (sendgrid.parse, _without("sendgrid_parsed.json", "from", headers="Subject: no sender\n")),
    (postmark.parse, [fields("postmark_inbound.json")]),
    (postmark.parse, "From: giulia.rossi@posta.example"),
    (postmark.parse, _without("postmark_inbound.json", "From", "FromFull", "FromName")),
    (parse_mime, b""),
    (parse_mime, bytes(range(256)) * 4),
    (parse_mime, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"),
    (parse_mime, 12345),
]


@pytest.mark.parametrize("adapter, payload", MALFORMED, ids=[
    "mailgun no from", "sendgrid neither headers nor email", "sendgrid no from", "postmark a list",
    "postmark a string", "postmark no From",
    "mime empty", "mime every byte", "mime a PNG", "mime not bytes"])
def test_an_unusable_payload_is_a_provider_error_that_says_why(adapter, payload):
    # A ProviderError is permanent by definition (a retry of the same request cannot succeed): the
    # webhooks answer it with the provider's "do not retry" status.
    with pytest.raises(ProviderError) as raised:
        adapter(payload)
    assert str(raised.value)


@pytest.mark.parametrize("adapter, payload, problem", [
    (mailgun.parse, _without("mailgun_route.json", **{"message-headers": "Received: by mx"}), "not JSON"),
    (mailgun.parse, _without("mailgun_route.json", **{"message-headers": '{"Subject": "Hi"}'}), "not a list"),
    (mailgun.parse, _without("mailgun_route.json", **{"message-headers": '[["Subject", "Hi"], 7]'}), "1 message"),
    (mailgun.parse, _without("mailgun_route.json", "message-headers"), "no message-headers"),
    (sendgrid.parse, _without("sendgrid_parsed.json", envelope="to=news@reply.acme.example"), "`envelope`"),
    (sendgrid.parse, _without("sendgrid_parsed.json", charsets='["UTF-8"]'), "`charsets`"),
    (postmark.parse, _without("postmark_inbound.json", Headers={"Message-ID": "<x@y>"}), "Headers is a dict"),
    (postmark.parse, _without("postmark_inbound.json", Headers=[{"Name": "X"}, 7, {"Name": "A", "Value": "b"}]),
     "2 Headers entries"),
], ids=["mailgun headers not JSON", "mailgun headers a dict", "mailgun one odd header", "mailgun no headers",
        "sendgrid envelope not JSON", "sendgrid charsets not an object", "postmark Headers a dict",
        "postmark odd Headers entries"])
def test_a_broken_field_costs_only_itself(adapter, payload, problem):
    mail = adapter(payload)
    assert "@" in mail.sender and (mail.text or mail.stripped_text or mail.html)
    assert any(problem in line for line in mail.evidence["problems"]), mail.evidence.get("problems")


@pytest.mark.parametrize("raw, sender, subject, text", [
    (b"From: Bob <bob@b.example>\r\nSubject: =?utf-8?B?broken\r\nContent-Type: text/plain; charset=x-klingon\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gd29ybGQ=!!\r\n",
     "bob@b.example", "=?utf-8?B?broken", "Hello world"),
    (b"From: =?iso-8859-1?Q?Ren=E9?= <rene@b.example>\r\nSubject: caf\xc3\xa9\r\n\r\ncaf\xe9 cr\xe8me\r\n",
     "rene@b.example", "café", "café crème\n"),
    (b"From: undisclosed-recipients:;\r\nSubject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
     "undisclosed-recipients:;", "x", None),  # no mailbox: kept as written, reading.to_inbound ignores it
], ids=["unknown charset, bad base64, broken encoded-word", "raw 8-bit headers and body", "no address, no boundary"])
def test_damaged_mail_is_still_read(raw, sender, subject, text):
    mail = parse_mime(raw)
    assert (mail.sender, mail.subject) == (sender, subject)
    assert mail.text == text or (text and mail.text.startswith(text))


@pytest.mark.parametrize("values, expected", [
    (["mx.google.com; dkim=pass header.i=@gmail.com header.s=20230601 header.b=Qk7v; spf=pass (google.com: "
      "domain of a@gmail.com designates 1.2.3.4 as permitted sender; ok) smtp.mailfrom=a@gmail.com; dmarc=pass"],
     ("pass", ("gmail.com",))),
    (["spf=pass (sender IP is 40.107.20.71) smtp.mailfrom=firma.example; dkim=pass (signature was verified) "
      "header.d=firma.example;dmarc=pass action=none header.from=firma.example;compauth=pass reason=100"],
     ("pass", ("firma.example",))),
    (["mx.example; dkim=fail header.d=evil.example; dkim=pass header.d=esp.example; "
      "dkim=pass header.i=news@Brand.Example; dkim=pass header.d=esp.example"],
     (None, ("esp.example", "brand.example"))),
    (['mx.example; dkim=fail reason="bad; (sig)" header.d=x.example; spf=pass smtp.mailfrom=a@x.example'],
     ("pass", ("x.example",))),
    (["mx.example 1; none"], (None, ())),
    (["mx.example; spf=softfail smtp.mailfrom=x@y.example", "mx.example; spf=pass smtp.mailfrom=x@z.example"],
     ("softfail", ("z.example",))),
], ids=["gmail", "microsoft 365 (no authserv-id)", "several signatures", "quoted reason", "none",
        "first spf wins"])
def test_parse_authentication_results(values, expected):
    assert parse_authentication_results(values) == expected


MX = "mx1.acme.example"
AR = "Authentication-Results"


@pytest.mark.parametrize("headers, trusted, expected", [
    ([(AR, f"{MX}; spf=softfail smtp.mailfrom=x@bank.example"),
      (AR, "forger.example; dkim=pass header.d=bank.example")],
     [MX], ("softfail", ())),
    ([(AR, f"{MX}; spf=fail smtp.mailfrom=victim@gmail.com"), (AR, f"{MX}; dkim=pass header.d=gmail.com")],
     [MX], ("fail", ())),
    ([(AR, "mx.evil; dkim=pass header.d=gmail.com")], [MX], (None, ())),
    ([(AR, f"{MX}; dkim=pass header.d=gmail.com")], [], (None, ())),
    ([(AR, "spf=pass smtp.mailfrom=firma.example; dkim=pass header.d=firma.example")], [MX], (None, ())),
    ([(AR, f"{MX.upper()}; dmarc=pass header.from=a.example"), (AR, f"{MX}; dkim=pass header.d=b.example")],
     [MX], (None, ("a.example",))),
    ([(AR, "mx.google.com; dkim=pass header.d=a.example"), (AR, f"{MX}; spf=pass smtp.mailfrom=p@b.example"),
      (AR, f"{MX}; dkim=pass header.d=c.example")], [MX, "mx.google.com"], ("pass", ("a.example", "b.example"))),
    ([("Received-SPF", "pass (mx1.acme.example: ...) receiver=mx1.acme.example")], [MX], (None, ())),
], ids=["a lower server's claim is ignored", "a forged header under our server's name, below its own",
        "an untrusted server", "no server trusted (TRUSTED_AUTHSERV_IDS unset)", "no authserv-id",
        "only the topmost of one server's headers", "the topmost of each trusted server",
        "Received-SPF names no authserv-id: never believed"])
def test_only_our_receiving_servers_topmost_results_count(headers, trusted, expected):
    assert authentication(headers, trusted) == expected


LATIN_1_TEXT = "Désabonnez-moi, s'il vous plaît.\n"


@pytest.mark.parametrize("text, form_encoding, expected", [
    (LATIN_1_TEXT.encode("iso-8859-1"), "utf-8", LATIN_1_TEXT),
    (LATIN_1_TEXT.encode("iso-8859-1").decode("latin-1"), "latin-1", LATIN_1_TEXT),
    (LATIN_1_TEXT.encode("iso-8859-1").decode("utf-8", "replace"), "utf-8",
     "D\ufffdsabonnez-moi, s'il vous pla\ufffdt.\n"),
], ids=["bytes", "str decoded as latin-1 by the route", "str as Flask decodes it: already lost"])
def test_sendgrid_text_is_read_in_the_charset_sendgrid_declares(text, form_encoding, expected):
    post = _without("sendgrid_parsed.json", "html", text=text,
                    charsets='{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"iso-8859-1"}')
    assert sendgrid.parse(post, form_encoding=form_encoding).text == expected


def test_sendgrid_raw_mode_accepts_the_message_as_the_route_decoded_it():
    post = fields("sendgrid_raw.json")
    as_latin_1 = {**post, "email": post["email"].encode("utf-8").decode("latin-1")}
    as_bytes = {**post, "email": post["email"].encode("utf-8")}
    expected = sendgrid.parse(post)
    assert sendgrid.parse(as_latin_1, form_encoding="latin-1") == expected == sendgrid.parse(as_bytes)


@pytest.mark.parametrize("changes, spf, dkim", [
    (dict(SPF="softfail", dkim="{@icloud.com : fail}"), "softfail", ()),
    (dict(dkim="{@icloud.com : pass, @mail.example : pass, @evil.example : fail}"), "pass",
     ("icloud.com", "mail.example")),
    (dict(SPF=None, dkim=None), None, ()),
], ids=["sendgrid's verdicts", "several signatures", "no verdicts, no headers"])
def test_sendgrid_raw_mode_keeps_sendgrids_own_verdicts(changes, spf, dkim):
    post = {k: v for k, v in {**fields("sendgrid_raw.json"), **changes}.items() if v is not None}
    mail = sendgrid.parse(post)
    assert (mail.spf, mail.dkim_pass_domains) == (spf, dkim)


def test_postmark_puts_back_the_headers_it_lifts_out():
    payload = fields("postmark_inbound.json")
    mail = postmark.parse(payload)
    assert (mail.header("Subject"), mail.header("Date"), mail.header("To")) == (
        payload["Subject"], payload["Date"], payload["To"])
    assert mail.evidence["content_type_inferred"] is True


def test_postmark_without_return_path_takes_the_envelope_sender_its_spf_check_names():
    payload = fields("postmark_inbound.json")
    payload["Headers"] = [h for h in payload["Headers"] if h["Name"] != "Return-Path"]
    assert postmark.parse(payload).envelope_from == "giulia.rossi@posta.example"
    payload["Headers"] = [h for h in payload["Headers"] if h["Name"] != "Received-SPF"]
    assert postmark.parse(payload).envelope_from is None


def test_a_mailgun_route_to_a_mime_url_gets_the_raw_message():
    post = {"recipient": "news@mg.acme.example", "sender": "marie.dupont@gmail.com",
            "from": "Marie Dupont <marie.dupont@gmail.com>", "subject": "Re: Nouveautés de printemps",
            "body-mime": (DATA / "reply_gmail.eml").read_bytes().decode("utf-8"),
            "timestamp": TS, "token": TOKEN, "signature": SIGNATURE}
    mail = mailgun.parse(post)
    assert (mail.provider, mail.sender, mail.envelope_from, mail.recipient) == (
        "mailgun", "marie.dupont@gmail.com", "marie.dupont@gmail.com", "news@mg.acme.example")
    assert "Désabonnez-moi" in mail.text and mail.content_type == "multipart/alternative"
