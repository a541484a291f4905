"""Benchmark (run by hand, not a test): POST /api/v1/suppressions/check with 1,000,000 addresses
against 100,000 opt-outs, end to end over HTTP through the Procfile's gunicorn, on 2 cores.

Prints the time of the call (sending the JSON, normalising, checking, streaming the answer back),
the same check done in-process on Python sets as a baseline measured in the same run, their ratio,
PASS/FAIL against 3 seconds, that the answer is right, and the resident memory of each worker after.

    .venv/bin/python bench/suppression_check.py [--addresses 1000000] [--opt-outs 100000]
        [--database-url postgresql://...]   (PostgreSQL instead of a new SQLite file; its consent table is emptied)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token"


def web_command(port: int) -> str:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    return re.sub(r"--bind \S+", f"--bind 127.0.0.1:{port}", line[len("web:"):].strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--opt-outs", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL to run on (its consent table is emptied first)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="check-bench-"))
    db = work / "optout.sqlite3"
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ['PATH']}", "PORT": str(port),
           "DATABASE_PATH": str(db), "DATABASE_URL": args.database_url or "",
           "KEYWORDS_PATH": str(ROOT / "keywords.yaml"), "ADMIN_TOKEN": TOKEN}
    env.pop("WEB_CONCURRENCY", None)
    subprocess.run(["flask", "--app", "app", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)

    rng = random.Random(7)
    addresses = [f"+1{rng.randrange(200_000_0000, 999_999_9999)}" for _ in range(args.addresses)]
    opted = set(rng.sample(addresses, args.opt_outs))
    if args.database_url:
        import psycopg
        with psycopg.connect(args.database_url) as conn:
            conn.execute("TRUNCATE consent")
            with conn.cursor().copy("COPY consent (channel, address, scope, status, updated_at) FROM STDIN") as copy:
                for a in opted:
                    copy.write_row(("sms", a, "*", "out", "2026-01-01"))
            conn.execute("ANALYZE consent")
    else:
        conn = sqlite3.connect(db)
        conn.executemany("INSERT OR IGNORE INTO consent VALUES ('sms', ?, '*', 'out', '2026-01-01')",
                         ((a,) for a in opted))
        conn.commit()
        conn.close()

    server = subprocess.Popen(web_command(port), shell=True, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body = json.dumps({"channel": "sms", "addresses": addresses}).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # warm the worker once
        c.request("POST", "/api/v1/suppressions/check",
                  body=json.dumps({"channel": "sms", "addresses": addresses[:1000]}), headers=headers)
        c.getresponse().read()

        started = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/api/v1/suppressions/check", body=body, headers=headers)
        response = c.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        answer = json.loads(raw)

        started = time.perf_counter()
        expected = sorted(set(addresses) & opted)
        baseline = time.perf_counter() - started

        master = subprocess.run(["pgrep", "-f", f"gunicorn --bind 127.0.0.1:{port}", "-o"],
                                capture_output=True, text=True).stdout.split()[0]
        workers = subprocess.run(["pgrep", "-P", str(int(master))], capture_output=True, text=True).stdout.split()
        print(f"{'PostgreSQL' if args.database_url else 'SQLite'}: "
              f"{args.addresses:,} addresses against {args.opt_outs:,} opt-outs, over HTTP "
              f"({len(body) / 1e6:.1f} MB request, {len(raw) / 1e6:.1f} MB answer)")
        print(f"service   {elapsed:6.2f} s   (status {response.status})")
        print(f"baseline  {baseline:6.2f} s   in-process set intersection of the same lists")
        print(f"ratio     {elapsed / baseline:6.1f}x the baseline")
        right = sorted(answer["suppressed"]) == expected and len(answer["allowed"]) == len(set(addresses)) - len(
            expected)
        for pid in workers:
            print(f"worker {pid}: resident {rss_kib(int(pid)) / 1024:.0f} MiB after the call")
        checks = [("time", elapsed < 3.0, f"{elapsed:.2f} s (target < 3 s on 2 cores)"),
                  ("answer", right, f"{len(answer['suppressed']):,} suppressed, {len(answer['allowed']):,} allowed")]
        for name, ok, detail in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        return 0 if all(ok for _, ok, _ in checks) else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
