"""Benchmark for `flask backfill-twilio` (run by hand; not a test).

Writes a 1,000,000-row message log in the Twilio console's CSV format to a temporary directory
(newest first, as the console exports it): three in four rows outbound (outbound-api, outbound-reply),
the rest inbound from 200,000 senders over one year, bodies mixing STOP in several languages,
"STOP SURVEYS", START, YES, HELP and ordinary text in seven languages (many distinct bodies).
Then, on a fresh database:
  * the baseline: csv.reader over the same file, doing nothing with the rows;
  * the backfill, through handlers.storage.backfill.backfill_twilio (the function the command runs),
    timed from opening the file to the committed transaction.
Prints rows/s, elapsed, the ratio to the baseline, PASS/FAIL against 30 s, and checks the report
and the database against an independent recount made while generating (a plain state machine
over each body's intended meaning), then runs the backfill again: it must record nothing. Exits
non-zero if a check fails.

    .venv/bin/python bench/backfill_twilio.py [--rows 1000000] [--senders 200000] [--seed 5]
        [--database-url postgresql://...]   (an empty PostgreSQL database instead of a new SQLite file)
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers.core.classifier import classify
from handlers.core.keyword_file import load_keywords
from handlers.storage.backfill import backfill_twilio
from handlers.storage.store import Store

TARGET_SECONDS = 30.0
HEADER = "From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,AccountSid,Sid,Direction,Price,PriceUnit"
OURS = "+14155550199"
ACCOUNT = "AC" + "5f" * 16

# What each inbound body means; the recount below relies on these, the benchmark checks the table agrees.
INBOUND = {
    "stop": (0.07, ["STOP", "Stop", "stop", "STOP.", "Stop!", "Arrêt", "Baja", "please stop texting me",
                    "bitte keine SMS mehr", "UNSUBSCRIBE", "Cancel", "stop sending me these"]),
    "stop_surveys": (0.02, ["STOP SURVEYS", "stop surveys", "UNSUBSCRIBE SURVEYS"]),
    "start": (0.03, ["START", "Start", "UNSTOP"]),
    "yes": (0.03, ["YES", "Yes", "yes"]),
    "help": (0.02, ["HELP", "Help", "AYUDA", "AIDE"]),
    "text": (0.83, ["Is the store on {n} Main St open today?", "Thanks! See you at {h} pm",
                    "Can I change my order #{n}?",
                    "Obrigado pela mensagem {h}", "Grazie mille", "Merci beaucoup, à {h}h", "Danke schön",
                    "¿Cuánto cuesta el envío a {n}?", "ok", "👍", "Dank je wel", 'Liked "Acme: 20% off today"',
                    "Where is my parcel {n}?", "Do you deliver to zip {n}?"]),
}
EXPECTED_ACTION = {"stop": "opt_out", "stop_surveys": "opt_out", "start": "opt_in", "yes": "opt_in", "help": "help",
                   "text": "none"}
OUTBOUND = ["Acme: 20% off everything today. Reply STOP to opt out", "Your order {n} has shipped",
            "Acme survey: how did we do? Reply 1-5. STOP to opt out", "Reminder: your appointment is at {h} pm"]


def check_vocabulary(table) -> None:
    for kind, (_, bodies) in INBOUND.items():
        for body in bodies:
            got = classify(body.format(n=123, h=5), table)
            if got.action != EXPECTED_ACTION[kind] or (kind == "stop_surveys") != bool(got.categories):
                sys.exit(f"benchmark vocabulary: {body!r} classifies as {got.action} {got.categories}, "
                         f"meant as {kind}: fix INBOUND")


def generate(path: Path, rows: int, senders: int, seed: int) -> dict:
    """Write the log; return the recount: expected report figures and final states."""
    rng = random.Random(seed)
    pool = [f"+1{rng.randrange(201, 990)}{rng.randrange(2_000_000, 9_999_999)}" for _ in range(senders)]
    kinds = list(INBOUND)
    weights = [INBOUND[k][0] for k in kinds]
    start = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-7)))
    seconds = sorted(rng.sample(range(365 * 86_400), rows))  # distinct: the order in time is unambiguous
    state: dict[str, set[str]] = {}
    counts = Counter()
    records = []
    for second in seconds:
        sid = f"SM{rng.getrandbits(128):032x}"
        when = (start + timedelta(seconds=second)).isoformat()
        person = pool[rng.randrange(senders)]
        if rng.random() < 0.75:
            direction = "outbound-api" if rng.random() < 0.9 else "outbound-reply"
            body = rng.choice(OUTBOUND).format(n=rng.randrange(10_000, 99_999), h=rng.randrange(1, 12))
            records.append((OURS, person, body, "delivered", when, sid, direction))
            continue
        kind = rng.choices(kinds, weights)[0]
        body = rng.choice(INBOUND[kind][1]).format(n=rng.randrange(100, 9_999), h=rng.randrange(1, 12))
        records.append((person, OURS, body, "received", when, sid, "inbound"))
        # The recount: what consent.apply does for these meanings, written out plainly.
        out = state.setdefault(person, set())
        if kind == "stop":
            out.clear()
            out.add("*")
            counts["opt_outs"] += 1
        elif kind == "stop_surveys":
            out.add("surveys")
            counts["opt_outs"] += 1
        elif kind == "start" or (kind == "yes" and out):
            out.clear()
            counts["opt_ins"] += 1
        elif kind == "help":
            counts["help"] += 1
        else:
            counts["none"] += 1
        counts["inbound"] += 1
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER.split(","))
        writer.writerows([frm, to, body, status, when, "2010-04-01", "1", "", ACCOUNT, sid, direction, "-0.00790",
                          "USD"]
                         for frm, to, body, status, when, sid, direction in reversed(records))
    counts["read"] = rows
    counts["everything_out"] = sum(1 for s in state.values() if "*" in s)
    counts["surveys_only_out"] = sum(1 for s in state.values() if s == {"surveys"})
    return counts


def baseline(path: Path) -> float:
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        n = sum(1 for _ in csv.reader(f))
    assert n > 0
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", help="an empty PostgreSQL database to backfill into")
    args = parser.parse_args()
    table = load_keywords(str(ROOT / "keywords.yaml"))
    check_vocabulary(table)

    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        log, db_path = Path(tmp) / "messages.csv", Path(tmp) / "optout.sqlite3"
        started = time.perf_counter()
        expected = generate(log, args.rows, args.senders, args.seed)
        print(f"generated {args.rows:,} rows ({log.stat().st_size / 1e6:.0f} MB, {expected['inbound']:,} inbound) "
              f"in {time.perf_counter() - started:.1f} s")
        base = baseline(log)
        store = Store(args.database_url or str(db_path))
        store.migrate()

        load_before = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        with log.open("rb") as raw:
            report = backfill_twilio(store, raw, table, "US")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        load_after = os.getloadavg()[0]
        base = min(base, baseline(log))  # the better of two baselines: the file is in the page cache for both
        started = time.perf_counter()
        with log.open("rb") as raw:
            again = backfill_twilio(store, raw, table, "US")  # every Sid is recorded now: nothing to do
        again_elapsed = time.perf_counter() - started

        conn = store.connection()
        found = {
            "read": report.read,
            "inbound": report.inbound,
            "opt_outs": report.opt_outs,
            "opt_ins": report.opt_ins,
            "help": report.help,
            "none": report.none,
        }
        in_db = {
            "messages": conn.execute("SELECT count(*) FROM messages WHERE provider = 'twilio'").fetchone()[0],
            "opt_out events": conn.execute("SELECT count(*) FROM events WHERE action = 'opt_out'").fetchone()[0],
            "opt_in events": conn.execute("SELECT count(*) FROM events WHERE action = 'opt_in'").fetchone()[0],
            "everything_out": conn.execute(
                "SELECT count(*) FROM consent WHERE scope = '*' AND status = 'out'").fetchone()[0],
            "surveys_only_out": conn.execute(
                "SELECT count(*) FROM consent c WHERE scope = 'surveys' AND status = 'out' AND NOT EXISTS "
                "(SELECT 1 FROM consent o WHERE o.channel = c.channel AND o.address = c.address AND o.scope = '*')"
            ).fetchone()[0],
            "replies": conn.execute("SELECT count(*) FROM messages WHERE reply IS NOT NULL").fetchone()[0],
            "outbox": conn.execute("SELECT count(*) FROM outbox").fetchone()[0],
            "integrity": "ok" if args.database_url else conn.execute("PRAGMA integrity_check").fetchone()[0],
        }
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == expected["inbound"]
        store.close()

    checks = [(f"report {name} = recount {expected[name]:,}", found[name] == expected[name]) for name in found]
    checks += [
        (f"messages rows {in_db['messages']:,} = inbound", in_db["messages"] == expected["inbound"]),
        (f"opt-out events {in_db['opt_out events']:,} = recount", in_db["opt_out events"] == expected["opt_outs"]),
        (f"opt-in events {in_db['opt_in events']:,} = recount", in_db["opt_in events"] == expected["opt_ins"]),
        (f"opted out of everything at the end {in_db['everything_out']:,} = recount {expected['everything_out']:,}",
         in_db["everything_out"] == expected["everything_out"]),
        (f"opted out of surveys only {in_db['surveys_only_out']:,} = recount {expected['surveys_only_out']:,}",
         in_db["surveys_only_out"] == expected["surveys_only_out"]),
        ("nothing answered or queued", in_db["replies"] == 0 and in_db["outbox"] == 0),
        (f"already recorded {report.already}, superseded {report.superseded}, problems {len(report.problems)}: all 0",
         report.already == report.superseded == len(report.problems) == 0),
        ("PRAGMA integrity_check ok (SQLite)", in_db["integrity"] == "ok"),
        (f"a second run finds all {again.already:,} inbound recorded and records nothing ({again_elapsed:.1f} s)",
         again.already == expected["inbound"] and again.recorded == 0),
    ]
    verdict = elapsed < TARGET_SECONDS
    print(f"baseline csv.reader: {base:.2f} s ({args.rows / base:,.0f} rows/s)")
    print(f"backfill:            {elapsed:.2f} s ({args.rows / elapsed:,.0f} rows/s), "
          f"{elapsed / base:.1f}x the baseline; "
          f"recorded {report.recorded:,}: {report.opt_outs:,} opt-outs, {report.opt_ins:,} opt-ins, "
          f"{report.help:,} help, {report.none:,} none")
    print(f"                     {cpu:.2f} s of CPU in this process; load average {load_before:.1f} before, "
          f"{load_after:.1f} after, on {os.cpu_count()} cores (other work on the machine slows the wall clock)")
    print(f"{'PASS' if verdict else 'FAIL'} elapsed {elapsed:.2f} s < {TARGET_SECONDS:.0f} s")
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'} {text}")
    return 0 if verdict and all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
