"""Mixed load benchmark: SMS and email webhooks plus suppression checks at once (run by hand; not a test).

Starts the service with the Procfile's web command (gunicorn, bound to 127.0.0.1, a fresh temporary
SQLite database) and, after a short warm-up, drives it for --seconds at --connections keep-alive
HTTP/1.1 connections (asyncio, one request in flight per connection, each response attributed to
its request and timed with time.perf_counter). Each request is, at random:
  * ~60% a signed Twilio SMS webhook (POST /webhooks/twilio/sms): its own MessageSid, one of 20,000
    senders, bodies mixing STOP / START / HELP / ordinary text / other languages and scripts;
  * ~25% a raw MIME email reply (POST /webhooks/email/mime, HTTP Basic): its own Message-ID; opt-outs
    written above a quoted footer that says "unsubscribe", ordinary replies above the same footer,
    a few auto-replies (Auto-Submitted, X-Autoreply, out-of-office subjects);
  * ~15% POST /api/v1/suppressions/check (bearer ADMIN_TOKEN) with 100 to 1,000 addresses.
Webhooks are generated beforehand (sized from the warm-up's rate; made on the fly if that runs short).

Prints per kind and overall: requests, requests/s, p50/p95/p99/max latency, errors (non-2xx or socket
errors); then PASS/FAIL for: zero errors; zero lost (every webhook answered 2xx has its row in
`messages`, by provider_id = MessageSid or Message-ID, and no webhook answered otherwise has one);
no duplicate among the unique email deliveries; PRAGMA integrity_check ok. Reports the resident
memory (VmRSS) of the gunicorn master and each worker after the load. Exits non-zero if a check fails.

    .venv/bin/python bench/mixed_load.py [--seconds 60] [--connections 16] [--warmup 3]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import email.header
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook_load import _stop, free_port, on_loopback, run, twilio_params, web_command  # noqa: E402

HOST = "127.0.0.1"
AUTH_TOKEN = "bench-twilio-auth-token"
ADMIN_TOKEN = "bench-admin-token"
EMAIL_USER, EMAIL_PASSWORD = "bench-inbound", "bench-inbound-secret"
SMS_PATH, MIME_PATH, CHECK_PATH = "/webhooks/twilio/sms", "/webhooks/email/mime", "/api/v1/suppressions/check"
KINDS = ("sms", "email", "check")
SHARES = {"sms": 0.60, "email": 0.25, "check": 0.15}
REQUEST_TIMEOUT = 10.0  # seconds; a request unanswered by then is a socket error
SMS_SENDERS = 20_000
EMAIL_SENDERS = 5_000
CHECK_POOL = 96  # distinct suppression-check bodies, reused (a check is a read)

# What people text back: keywords, ordinary text, other languages and scripts.
SMS_BODIES = (
    ["STOP"] * 6 + ["START"] * 3 + ["HELP"] * 3 + ["stop", "Stop.", "start", "help", "STOP SURVEYS", "START PROMOTIONS",
                                                     "UNSUBSCRIBE", "stop all", "Please stop texting me"]
    + ["Thanks, see you at 5", "Is the store open on Sunday?", "ok 👍", "Who is this?", "yes",
       "Can I change my appointment to Tuesday?", "Liked “Reply STOP to opt out”", "Don't stop the music 🎶",
       "Where is my order #48213?", "lol", "Call me back please"]
    + ["ARRÊT", "Arret svp", "BAJA", "Darme de baja por favor", "PARAR", "STOPP", "Abmelden bitte", "Basta!",
       "Merci, à demain", "¿A qué hora abren?", "Danke schön", "Obrigado!", "Grazie mille", "停止", "Стоп",
       "توقف", "עצור", "止めてください", "AYUDA", "AIDE", "Hilfe", "INICIAR", "COMENZAR"]
)

EMAIL_DOMAINS = ("gmail.com", "outlook.com", "icloud.com", "firma.example", "correo.example", "posta.example",
                 "entreprise.example", "web.example")
OPT_OUT_LINES = {
    "en": ["Please unsubscribe me.", "Unsubscribe", "Remove me from your list please.",
           "Take me off the list, thanks.", "STOP", "Please stop sending me these emails.\n\nThanks,\nSam"],
    "fr": ["Désabonnez-moi de cette liste, s'il vous plaît. Je ne veux plus recevoir vos e-mails.\n\nMerci,\nMarie"],
    "de": ["Bitte melden Sie mich ab.\n\nDanke\nKatrin", "Abmelden bitte."],
    "es": ["Por favor, darme de baja.\n\nGracias", "Quiero desuscribirme."],
}
ORDINARY_LINES = {
    "en": ["Do you have the jacket in blue, size M?", "Thanks! When does the sale end?",
           "My order hasn't arrived yet, can you check?\n\nBest,\nAlex", "Love the new collection 😍"],
    "fr": ["Merci, est-ce que la boutique de Lyon est ouverte dimanche ?"],
    "de": ["Danke, kommt die Lieferung noch diese Woche?"],
    "es": ["¿Tienen envío gratis a Madrid?"],
}
QUOTED_FOOTER = {
    "en": ("On Mon, 3 Mar 2025 at 09:00, Acme Outfitters <news@acme.example> wrote:",
           "> Spring news: 20% off all jackets until Sunday.\n>\n> See the collection: https://acme.example/spring\n"
           ">\n> --\n> You receive this email because you subscribed to Acme Outfitters news.\n"
           "> Unsubscribe: https://acme.example/u/8f3a2c"),
    "fr": ("Le lun. 3 mars 2025 à 09:00, Acme Outfitters <news@acme.example> a écrit :",
           "> Nouveautés de printemps : -20 % sur toutes les vestes jusqu'à dimanche.\n>\n> --\n"
           "> Vous recevez cet e-mail car vous êtes inscrit(e) à la lettre d'Acme Outfitters.\n"
           "> Se désabonner (unsubscribe) : https://acme.example/u/8f3a2c"),
    "de": ("Am Mo., 3. März 2025 um 09:00 schrieb Acme Outfitters <news@acme.example>:",
           "> Frühjahrsneuheiten: 20 % auf alle Jacken bis Sonntag.\n>\n> --\n"
           "> Abmelden / unsubscribe: https://acme.example/u/8f3a2c"),
    "es": ("El lun, 3 mar 2025 a las 9:00, Acme Outfitters (<news@acme.example>) escribió:",
           "> Novedades de primavera: 20 % en todas las chaquetas hasta el domingo.\n>\n> --\n"
           "> Darse de baja (unsubscribe): https://acme.example/u/8f3a2c"),
}
SUBJECTS = {"en": "Re: Spring news: 20% off all jackets", "fr": "Re: Nouveautés de printemps : -20 % sur les vestes",
            "de": "AW: Frühjahrsneuheiten: 20 % auf alle Jacken", "es": "RE: Novedades de primavera: 20 % en chaquetas"}
AUTO_REPLIES = (  # (extra headers, subject)
    ("Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n", "Automatic reply: Spring news"),
    ("Auto-Submitted: auto-replied\r\n", "Réponse automatique : Nouveautés de printemps"),
    ("X-Autoreply: yes\r\n", "Re: Spring news"),
    ("", "Out of Office: Spring news"),
    ("Precedence: auto_reply\r\n", "Abwesenheitsnotiz: Frühjahrsneuheiten"),
)


# Processes and clean-up ------------------------------------------------------------------------

_server: subprocess.Popen | None = None
_tempdir: str | None = None


def stop_server(grace: float = 10.0) -> None:
    """Stop gunicorn (its own process group: arbiter and workers) gracefully, then by force."""
    if _server is not None:
        _stop(_server, grace)


def cleanup() -> None:
    stop_server()
    if _tempdir:
        shutil.rmtree(_tempdir, ignore_errors=True)


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def start_server(db: Path, log: Path, port: int) -> subprocess.Popen:
    global _server
    cmd = on_loopback(web_command())
    env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update({
        "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "PORT": str(port),
        "DATABASE_PATH": str(db),
        "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "INBOUND_EMAIL_USER": EMAIL_USER,
        "INBOUND_EMAIL_PASSWORD": EMAIL_PASSWORD,
        "PUBLIC_BASE_URL": "",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    for name in ("SMTP_URL", "MAILGUN_SIGNING_KEY", "UNSUBSCRIBE_SECRET", "MAIL_FROM"):
        env.pop(name, None)
    with open(log, "wb") as out:
        _server = subprocess.Popen(["sh", "-c", "exec " + cmd], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"service  PORT={port} {cmd}")
    return _server


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: the service exited with {proc.returncode} before answering:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"bench: the service did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses: split after the last ')'.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def memory(proc: subprocess.Popen) -> list[tuple[str, int, int | None]]:
    """(role, pid, VmRSS KiB) of the gunicorn master and each of its workers."""
    return [("master", proc.pid, rss_kib(proc.pid))] + [("worker", pid, rss_kib(pid)) for pid in children(proc.pid)]


# Requests ---------------------------------------------------------------------------------------

@dataclass
class Req:
    kind: str
    raw: bytes
    pid: str | None  # the provider_id a webhook is stored under (None for a check)


def sms_request(port: int, run_id: str, index: int, rng: random.Random, validator: RequestValidator) -> Req:
    sid = f"SM{run_id}{index:024x}"  # SM + 32 hex, unique within the run
    sender = f"+1415{2000000 + rng.randrange(SMS_SENDERS):07d}"
    params = twilio_params(sid, rng.choice(SMS_BODIES), sender)
    signature = validator.compute_signature(f"http://{HOST}:{port}{SMS_PATH}", params)
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in params.items()).encode()
    head = (f"POST {SMS_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: TwilioProxy/1.1\r\nAccept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
            f"X-Twilio-Signature: {signature}\r\nI-Twilio-Idempotency-Token: {uuid.UUID(int=rng.getrandbits(128))}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return Req("sms", head.encode() + body, sid)


def _subject(text: str) -> str:
    return text if text.isascii() else email.header.Header(text, "utf-8").encode()


def email_message(run_id: str, index: int, rng: random.Random) -> tuple[bytes, str]:
    """One raw RFC 5322 reply and its Message-ID."""
    n = rng.randrange(EMAIL_SENDERS)
    domain = EMAIL_DOMAINS[n % len(EMAIL_DOMAINS)]
    sender = f"person{n}@{domain}"
    message_id = f"<{run_id}.{index:x}.{rng.getrandbits(32):08x}@mail.{domain}>"
    lang = rng.choice(("en", "en", "en", "fr", "de", "es"))
    roll = rng.random()
    extra = ""
    if roll < 0.07:  # an auto-reply: never acted on
        extra, subject = rng.choice(AUTO_REPLIES)
        text, html = "I am out of the office until 10 March with limited access to email.\n\nBest regards", None
    else:
        subject = SUBJECTS[lang]
        if roll < 0.45:
            reply = rng.choice(OPT_OUT_LINES[lang])
        elif roll < 0.50:  # a mail client answering a mailto: List-Unsubscribe
            reply, subject = "", "unsubscribe"
        else:
            reply = rng.choice(ORDINARY_LINES[lang])
        attribution, quoted = QUOTED_FOOTER[lang]
        text = f"{reply}\n\n{attribution}\n\n{quoted}\n" if reply else ""
        html = None
        if reply and rng.random() < 0.25:
            html = (f"<div dir=\"ltr\">{reply.replace(chr(10), '<br>')}</div><br><div class=\"gmail_quote\">"
                    f"<div class=\"gmail_attr\">{attribution.replace('<', '&lt;').replace('>', '&gt;')}</div>"
                    f"<blockquote class=\"gmail_quote\">{quoted.replace('> ', '').replace(chr(10), '<br>')}"
                    "</blockquote></div>")
    head = (f"Return-Path: <{sender}>\r\nDelivered-To: news@acme.example\r\n"
            f"Authentication-Results: mx1.acme.example;\r\n\tdkim=pass header.d={domain} header.s=s1;\r\n"
            f"\tspf=pass smtp.mailfrom={sender}\r\n"
            f"From: Person {n} <{sender}>\r\nTo: Acme Outfitters <news@acme.example>\r\n"
            f"Subject: {_subject(subject)}\r\nDate: Mon, 3 Mar 2025 10:14:15 +0100\r\nMessage-ID: {message_id}\r\n"
            "In-Reply-To: <20250303080000.4f1c2a@mail.acme.example>\r\n"
            "References: <20250303080000.4f1c2a@mail.acme.example>\r\n"
            f"{extra}MIME-Version: 1.0\r\n")
    plain_headers = "Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: 8bit\r\n"
    crlf = lambda s: s.replace("\n", "\r\n")  # noqa: E731
    if html is None:
        message = head + plain_headers + "\r\n" + crlf(text)
    else:
        boundary = f"b{rng.getrandbits(64):016x}"
        message = (head + f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
                   f"--{boundary}\r\n{plain_headers}\r\n{crlf(text)}\r\n"
                   f"--{boundary}\r\nContent-Type: text/html; charset=\"UTF-8\"\r\n"
                   f"Content-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n--{boundary}--\r\n")
    return message.encode(), message_id


_BASIC = base64.b64encode(f"{EMAIL_USER}:{EMAIL_PASSWORD}".encode()).decode()


def email_request(port: int, run_id: str, index: int, rng: random.Random) -> Req:
    body, message_id = email_message(run_id, index, rng)
    head = (f"POST {MIME_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: mail-pipe/1.0\r\n"
            f"Authorization: Basic {_BASIC}\r\nContent-Type: message/rfc822\r\nContent-Length: {len(body)}\r\n\r\n")
    return Req("email", head.encode() + body, message_id)


def check_request(port: int, rng: random.Random) -> Req:
    """100 to 1,000 addresses: many from the senders above (so some are suppressed), the rest strangers,
    a few written nationally (parsed by phonenumbers) and a few invalid."""
    count = rng.randint(100, 1000)
    if rng.random() < 0.7:
        channel, addresses = "sms", []
        for _ in range(count):
            r = rng.random()
            if r < 0.5:
                number = 2000000 + rng.randrange(SMS_SENDERS)
                addresses.append(f"+1415{number:07d}")
            elif r < 0.9:
                addresses.append(f"+1{rng.choice((212, 310, 646, 718, 917))}{rng.randrange(2000000, 9999999):07d}")
            elif r < 0.99:
                number = rng.randrange(2000000, 9999999)
                addresses.append(f"(415) {number // 10000:03d}-{number % 10000:04d}")
            else:
                addresses.append(rng.choice(("hello", "", "+1 555", "n/a")))
    else:
        channel = "email"
        addresses = []
        for _ in range(count):
            r = rng.random()
            if r < 0.5:
                n = rng.randrange(EMAIL_SENDERS)
                addresses.append(f"person{n}@{EMAIL_DOMAINS[n % len(EMAIL_DOMAINS)]}")
            elif r < 0.99:
                addresses.append(f"Customer.{rng.randrange(10**7)}@Example.COM")
            else:
                addresses.append("not-an-address")
    payload: dict = {"channel": channel, "addresses": addresses}
    if rng.random() < 0.3:
        payload["category"] = rng.choice(("promotions", "surveys", "newsletter"))
    body = json.dumps(payload).encode()
    head = (f"POST {CHECK_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: sender/1.0\r\n"
            f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return Req("check", head.encode() + body, None)


def _make_batch(job: tuple) -> list[tuple[bytes, str]]:
    kind, port, run_id, start, count, seed = job
    rng, validator = random.Random(seed), RequestValidator(AUTH_TOKEN)
    out = []
    for i in range(start, start + count):
        req = (sms_request(port, run_id, i, rng, validator) if kind == "sms" else email_request(port, run_id, i, rng))
        out.append((req.raw, req.pid))
    return out


class Source:
    """Requests of one kind: pre-generated ones first, then made on the fly (unique ids throughout)."""

    def __init__(self, kind: str, port: int, run_id: str, seed: int):
        self.kind, self.port, self.run_id = kind, port, run_id
        self.rng = random.Random(seed)
        self.validator = RequestValidator(AUTH_TOKEN)
        self.next_index = 0
        self.pool: list[tuple[bytes, str]] = []
        self.pos = 0
        self.on_the_fly = 0
        self.checks = [check_request(port, self.rng) for _ in range(CHECK_POOL)] if kind == "check" else []

    def pregenerate(self, count: int, processes: int) -> None:
        if self.kind == "check" or count <= 0:
            return
        per = -(-count // processes)
        jobs = [(self.kind, self.port, self.run_id, self.next_index + p * per, per, self.rng.getrandbits(64))
                for p in range(processes)]
        self.next_index += per * processes
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            batches = pool.map(_make_batch, jobs)
        self.pool = [r for batch in batches for r in batch]
        self.pos = 0

    def next(self) -> Req:
        if self.kind == "check":
            return self.rng.choice(self.checks)
        if self.pos < len(self.pool):
            raw, pid = self.pool[self.pos]
            self.pool[self.pos] = None  # type: ignore[call-overload]  # let it go once sent
            self.pos += 1
            return Req(self.kind, raw, pid)
        self.on_the_fly += 1
        i, self.next_index = self.next_index, self.next_index + 1
        if self.kind == "sms":
            return sms_request(self.port, self.run_id, i, self.rng, self.validator)
        return email_request(self.port, self.run_id, i, self.rng)


# The load generator -----------------------------------------------------------------------------

@dataclass
class Result:
    kind: str
    pid: str | None
    latency: float  # seconds
    status: int | None  # None: socket error or timeout
    note: str = ""  # the error, or an email webhook's "status"


@dataclass
class Phase:
    name: str
    duration: float = 0.0
    results: list[Result] = field(default_factory=list)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server closes) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            chunks.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
    return int(status), body, close


async def connection(port: int, sources: dict[str, Source], pick: random.Random, deadline: float,
                     phase: Phase) -> None:
    reader = writer = None
    try:
        while time.perf_counter() < deadline:
            r = pick.random()
            kind = "sms" if r < SHARES["sms"] else "email" if r < SHARES["sms"] + SHARES["email"] else "check"
            req = sources[kind].next()
            if writer is None:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), REQUEST_TIMEOUT)
                except (OSError, asyncio.TimeoutError) as e:
                    phase.results.append(Result(kind, req.pid, 0.0, None, f"connect: {type(e).__name__}: {e}"))
                    await asyncio.sleep(0.05)
                    continue
            t0 = time.perf_counter()
            try:
                writer.write(req.raw)
                await writer.drain()
                status, body, close = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError) as e:
                phase.results.append(Result(kind, req.pid, time.perf_counter() - t0, None,
                                            f"{type(e).__name__}: {e}"))
                writer.close()
                reader = writer = None
                continue
            latency = time.perf_counter() - t0
            note = ""
            if not 200 <= status < 300:
                note = body[:300].decode("utf-8", "replace")
            elif kind == "email":
                try:
                    note = json.loads(body).get("status", "")
                except ValueError:
                    note = "unreadable"
            phase.results.append(Result(kind, req.pid, latency, status, note))
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def drive(port: int, sources: dict[str, Source], seconds: float, connections: int, seed: int,
                name: str) -> Phase:
    phase = Phase(name)
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(connection(port, sources, random.Random(seed * 1000 + c), deadline, phase)
                           for c in range(connections)))
    # Requests in flight at the deadline are waited for (each bounded by REQUEST_TIMEOUT) and counted.
    phase.duration = time.perf_counter() - start
    return phase


# Figures ----------------------------------------------------------------------------------------

def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def figures(phase: Phase) -> list[tuple[str, dict]]:
    rows = []
    for kind in KINDS + ("all",):
        results = [r for r in phase.results if kind == "all" or r.kind == kind]
        answered = sorted(r.latency for r in results if r.status is not None)
        rows.append((kind, {
            "requests": len(results),
            "rps": len(results) / phase.duration if phase.duration else 0.0,
            "p50": percentile(answered, 50) * 1000, "p95": percentile(answered, 95) * 1000,
            "p99": percentile(answered, 99) * 1000, "max": (answered[-1] if answered else 0.0) * 1000,
            "non2xx": sum(1 for r in results if r.status is not None and not 200 <= r.status < 300),
            "socket": sum(1 for r in results if r.status is None),
        }))
    return rows


def print_table(phase: Phase) -> None:
    print(f"{'kind':6} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f"  errors (non-2xx, socket)")
    for kind, s in figures(phase):
        print(f"{kind:6} {s['requests']:9d} {s['rps']:8.1f} {s['p50']:8.2f} {s['p95']:8.2f} {s['p99']:8.2f}"
              f" {s['max']:8.1f}  {s['non2xx'] + s['socket']} ({s['non2xx']}, {s['socket']})")


# Main -------------------------------------------------------------------------------------------

def main() -> int:
    global _tempdir
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="measured duration (default 60)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up before measuring, also checked (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.connections < 1 or args.warmup < 0:
        parser.error("--seconds must be > 0, --connections >= 1, --warmup >= 0")

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    seed = args.seed if args.seed is not None else random.randrange(2**31)
    _tempdir = tempfile.mkdtemp(prefix="mixed-bench-")
    work = Path(_tempdir)
    db, log = work / "optout.sqlite3", work / "service.log"
    run_id = uuid.uuid4().hex[:8]
    port = free_port()

    print(f"Procfile web line bound to {HOST}; database {db}; seed {seed}")
    server = start_server(db, log, port)
    wait_ready(server, port, log)
    workers = children(server.pid)
    print(f"  gunicorn master {server.pid}, {len(workers)} workers; {args.connections} connections; "
          f"mix {', '.join(f'{k} {v:.0%}' for k, v in SHARES.items())}")
    memory_before = memory(server)

    sources = {kind: Source(kind, port, run_id, seed + n) for n, kind in enumerate(KINDS)}
    phases = []
    if args.warmup > 0:
        warm = asyncio.run(drive(port, sources, args.warmup, args.connections, seed, "warm-up"))
        phases.append(warm)
        rate = len(warm.results) / warm.duration if warm.duration else 0.0
        print(f"warm-up  {len(warm.results)} requests in {warm.duration:.1f} s ({rate:.0f} req/s)")
    else:
        rate = 500.0
    # Twice the warm-up rate (it runs partly cold, on requests made on the fly) plus slack.
    expected = max(rate, 200.0) * 2 * args.seconds + 2000
    processes = max(1, min(4, os.cpu_count() or 1))
    t = time.perf_counter()
    for kind in ("sms", "email"):
        sources[kind].pregenerate(int(expected * SHARES[kind]), processes)
    print(f"  generated {len(sources['sms'].pool)} SMS and {len(sources['email'].pool)} email requests "
          f"in {time.perf_counter() - t:.1f} s")
    on_the_fly_before = {k: s.on_the_fly for k, s in sources.items()}

    measured = asyncio.run(drive(port, sources, args.seconds, args.connections, seed + 1, "measured"))
    phases.append(measured)
    made_live = {k: sources[k].on_the_fly - on_the_fly_before[k] for k in ("sms", "email")}
    for source in sources.values():
        source.pool = []

    memory_after = memory(server)
    stop_server()  # gracefully: workers finish what they hold before the database is read

    print()
    print(f"Mixed load, {args.seconds:g} s measured at {args.connections} connections "
          f"(load generator: Python asyncio, on the same machine; {measured.duration:.1f} s incl. draining):")
    print_table(measured)
    if any(made_live.values()):
        print(f"  (the pool ran short: {made_live['sms']} SMS and {made_live['email']} email requests made on the fly)")
    emails = Counter(r.note for p in phases for r in p.results if r.kind == "email" and r.status == 200)
    print("email answers: " + ", ".join(f"{k} {v}" for k, v in sorted(emails.items())))

    # The database.
    conn = sqlite3.connect(db, timeout=30)
    stored: dict[tuple[str, str], int] = Counter(
        (provider, pid) for provider, pid in conn.execute("SELECT provider, provider_id FROM messages"))
    actions = conn.execute("SELECT channel, action, count(*) FROM messages GROUP BY channel, action "
                           "ORDER BY channel, count(*) DESC").fetchall()
    suppressed = conn.execute("SELECT channel, count(DISTINCT address) FROM consent WHERE status = 'out' "
                              "GROUP BY channel").fetchall()
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    print("messages rows by action: " + "; ".join(
        f"{channel} " + ", ".join(f"{a} {n}" for c, a, n in actions if c == channel) for channel in ("sms", "email")))
    print("addresses with an opt-out: " + ", ".join(f"{c} {n}" for c, n in suppressed))

    provider = {"sms": "twilio", "email": "mime"}
    all_results = [r for p in phases for r in p.results]
    webhooks = [r for r in all_results if r.kind in provider]
    ok = {(provider[r.kind], r.pid) for r in webhooks if r.status is not None and 200 <= r.status < 300}
    refused = {(provider[r.kind], r.pid) for r in webhooks if r.status is not None and not 200 <= r.status < 300}
    unknown = {(provider[r.kind], r.pid) for r in webhooks if r.status is None}
    sent = ok | refused | unknown
    lost = sorted(ok - stored.keys())
    wrongly = sorted(refused & stored.keys())
    strangers = sorted(stored.keys() - sent)
    doubled = sorted(k for k, n in stored.items() if n > 1)

    print("\nresident memory (VmRSS) after the load:")
    before = {pid: kib for _, pid, kib in memory_before}
    for role, pid, kib in memory_after:
        was = before.get(pid)
        print(f"  {role:6} pid {pid:7d}  {(kib or 0) / 1024:7.1f} MiB"
              + (f"  (after start {was / 1024:.1f} MiB)" if was else ""))

    checks = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append(passed)
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")

    print()
    errors = [r for r in all_results if r.status is None or not 200 <= r.status < 300]
    detail = "none" if not errors else f"{len(errors)} (" + ", ".join(
        f"{k} {v}" for k, v in Counter(f"{r.kind} {r.status or 'socket'}" for r in errors).most_common()) + \
        f"); first: {errors[0].kind} {errors[0].status}: {errors[0].note[:200]}"
    check("errors", not errors, detail + f" among {len(all_results)} requests (warm-up included)")
    check("lost", not lost and not wrongly and not strangers,
          f"{len(ok)} webhooks answered 2xx, {len(ok) - len(lost)} of them stored; {len(lost)} missing"
          f"{' e.g. ' + str(lost[:3]) if lost else ''}; {len(wrongly)} stored despite a non-2xx answer"
          f"{' e.g. ' + str(wrongly[:3]) if wrongly else ''}; {len(strangers)} rows for nothing sent"
          + (f"; {len(unknown)} unanswered (socket errors), stored or not" if unknown else ""))
    duplicates = emails.get("duplicate", 0)
    check("unique", not duplicates and not doubled,
          f"{duplicates} email deliveries answered duplicate, {len(doubled)} provider ids stored twice")
    check("integrity", integrity == "ok", f"PRAGMA integrity_check: {integrity}")
    passed = all(checks)
    print(f"\n{'PASS' if passed else 'FAIL'}: {sum(checks)}/{len(checks)} checks passed")
    return 0 if passed else 1


if __name__ == "__main__":
    run(main)
