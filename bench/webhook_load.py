"""Load benchmark for the Twilio SMS webhook (run by hand: `make bench`; not a test).

Starts three servers on 127.0.0.1: two with the Procfile's web command (gunicorn, the same workers and
handlers/gunicorn_config.py settings for both), and the bare app once more on plain sync workers (one
per core; the ratio is taken against the faster bare endpoint of each round):
  * the real service, on a fresh temporary SQLite database (or --database-url's PostgreSQL), and
  * bench/bare_app.py, a bare Flask form POST answering a small XML body (the ceiling),
then drives each with wrk at 16 connections after a short warm-up, in rounds that alternate which
server goes first (the machine's speed drifts; the verdict uses the median round). Every request is
a signed Twilio webhook (RequestValidator, Twilio's form fields) with its own MessageSid, from many
senders, bodies mixing STOP / START / HELP / "UNSUBSCRIBE SURVEYS" / ordinary text. The requests are
generated here beforehand and replayed once each by bench/webhook_load.lua.

Prints requests/s, p50/p99 latency and errors for both, the service/bare ratio, and PASS/FAIL for:
throughput >= 35% of bare (aim 50%), p99 < 25 ms, zero errors, every 2xx recorded in `messages`,
PRAGMA integrity_check ok. Exits non-zero if any check fails.

    .venv/bin/python bench/webhook_load.py [--rounds 3] [--seconds 5] [--warmup 2] [--connections 16]
        [--database-url postgresql://...]   (the service on PostgreSQL, its tables emptied first)
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
LUA = BENCH / "webhook_load.lua"
PATH = "/webhooks/twilio/sms"
HOST = "127.0.0.1"
AUTH_TOKEN = "bench-twilio-auth-token"

TARGET_RATIO = 0.35
AIM_RATIO = 0.50
TARGET_P99_MS = 25.0

# What people text back. Weighted towards the keywords; ordinary text is recorded with action none.
BODIES = (
    ["STOP"] * 4 + ["START"] * 3 + ["HELP"] * 2 + ["UNSUBSCRIBE SURVEYS"] * 2 + ["stop", "Start", "help"]
    + ["Thanks, see you at 5", "Is the store open on Sunday?", "Stop please", "ok 👍",
       "Who is this?", "Liked “Reply STOP to opt out”", "yes", "Can I change my appointment to Tuesday?"]
)
SENDERS = 20_000


# Processes and clean-up ------------------------------------------------------------------------

_servers: list[subprocess.Popen] = []
_tempdir: str | None = None


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop one gunicorn (its own process group: arbiter and workers) gracefully, then by force."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _cleanup() -> None:
    for proc in _servers:
        _stop(proc)
    _servers.clear()
    if _tempdir:
        shutil.rmtree(_tempdir, ignore_errors=True)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


# The Procfile's web command --------------------------------------------------------------------

def web_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line[len("web:"):].strip()
    sys.exit("bench: no web: line in Procfile")


def on_loopback(cmd: str) -> str:
    """The same command bound to 127.0.0.1 instead of whatever host the Procfile names."""
    new, n = re.subn(r"(--bind[= ]+|-b *)['\"]?(?:\$\{[^}]*\}|[^'\"\s:]*)(:\$\{?PORT\}?)['\"]?",
                     rf"\g<1>{HOST}\g<2>", cmd)
    if n != 1:
        sys.exit(f"bench: cannot find one --bind HOST:$PORT in the Procfile web line: {cmd}")
    return new


def with_app(cmd: str, spec: str) -> str:
    """The same command serving another WSGI app (the app spec is the command's last word)."""
    last = shlex.split(cmd)[-1]
    for written in (shlex.quote(last), f"'{last}'", f'"{last}"', last):
        if cmd.rstrip().endswith(written):
            return cmd.rstrip()[: -len(written)] + shlex.quote(spec)
    sys.exit(f"bench: cannot find the app spec at the end of the Procfile web line: {cmd}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(name: str, cmd: str, cwd: Path, port: int, env: dict, log: Path) -> subprocess.Popen:
    env = {**env, "PORT": str(port)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(["sh", "-c", "exec " + cmd], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _servers.append(proc)
    print(f"  {name:8} :{port}  (cd {cwd.relative_to(ROOT) if cwd != ROOT else '.'}; PORT={port} {cmd})")
    return proc


def wait_ready(name: str, proc: subprocess.Popen, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: {name} exited with {proc.returncode} before answering:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
            if name != "service" or status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"bench: {name} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def count_workers(proc: subprocess.Popen) -> int:
    """Live children of the gunicorn arbiter (its workers)."""
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True)
        return len(out.stdout.split())
    except OSError:
        return -1


# Requests ---------------------------------------------------------------------------------------

def twilio_params(sid: str, body: str, sender: str) -> dict:
    """Exactly the fields of tests/conftest.py twilio_params (Twilio's inbound SMS webhook)."""
    return {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
        "FromZip": "94105", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO",
        "Body": body, "FromCountry": "US", "To": "+14155550199", "ToZip": "94105", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "ApiVersion": "2010-04-01",
    }


def _write_pool(job: tuple) -> int:
    """Write `count` raw signed requests to `path` as "<length>\\n<request>" records."""
    path, port, sid_prefix, count, seed = job
    rng = random.Random(seed)
    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://{HOST}:{port}{PATH}"
    head = (f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: TwilioProxy/1.1\r\n"
            "Accept: */*\r\nCache-Control: max-age=259200\r\n"
            "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n")
    with open(path, "wb") as out:
        for i in range(count):
            sid = f"SM{sid_prefix}{i:016x}"
            sender = f"+1415{2000000 + rng.randrange(SENDERS):07d}"
            params = twilio_params(sid, rng.choice(BODIES), sender)
            signature = validator.compute_signature(url, params)
            body = "&".join(f"{k}={quote_plus(v)}" for k, v in params.items()).encode()
            raw = (head + f"X-Twilio-Signature: {signature}\r\nI-Twilio-Idempotency-Token: {uuid.uuid4()}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            out.write(b"%d\n" % len(raw))
            out.write(raw)
    return count


def make_pools(pool_specs: list[tuple[str, int, int]], threads: int, workdir: Path, run_id: str,
               tag: str) -> dict[str, Path]:
    """For each (name, port, count): `threads` files of unique signed requests; returns name -> prefix."""
    jobs, prefixes = [], {}
    for n, (name, port, count) in enumerate(pool_specs):
        prefix = workdir / f"pool-{tag}-{name}"
        prefixes[name] = prefix
        per_thread = -(-count // threads)
        for t in range(threads):
            # SM + 32 hex: run id (8) + pool (4) + thread (4) + counter (16), so no sid repeats anywhere.
            sid_prefix = f"{run_id}{(ord(tag[0]) << 8) | n:04x}{t:04x}"
            jobs.append((str(prefix) + f".{t}", port, sid_prefix, per_thread, hash((run_id, tag, n, t))))
    # The workers die of SIGTERM as processes normally do (not by this bench's handler, which they
    # would inherit), and are ended by close/join, not terminate: a worker ended while it held the
    # pool's queue lock once left the next one waiting for it forever.
    pool = multiprocessing.get_context("fork").Pool(min(len(jobs), os.cpu_count() or 1), _default_signals)
    try:
        pool.map(_write_pool, jobs)
    finally:
        pool.close()
        pool.join()
    return prefixes


def _default_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


# wrk --------------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: wrk is missing; installing it with apt-get (Debian package wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            subprocess.run(["apt-get", "install", "-y", "wrk"], env=env)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("bench: this benchmark needs wrk (https://github.com/wg/wrk). Install it with\n"
             "    sudo apt-get install -y wrk        (Debian/Ubuntu)\n"
             "    brew install wrk                   (macOS)\n"
             "then run `make bench` again.")


def run_wrk(wrk: str, port: int, pool: Path, seconds: float, connections: int, threads: int) -> dict:
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
           "-s", str(LUA), f"http://{HOST}:{port}{PATH}", "--", str(pool)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    stats: dict = {}
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            key, _, value = line[6:].partition("=")
            try:
                stats[key] = float(value) if "." in value or "e" in value else int(value)
            except ValueError:
                stats[key] = value
    if out.returncode != 0 or "responses" not in stats:
        sys.exit(f"bench: wrk failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    stats["rps"] = stats["responses"] / (stats["duration_us"] / 1e6)
    stats["socket_errors"] = sum(stats[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    stats["errors"] = stats["non2xx"] + stats["socket_errors"]
    return stats


SERVERS = ("bare", "bare-sync", "service")


def cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU time (user + system) used so far by a gunicorn's arbiter and its live workers."""
    pids = [proc.pid] + [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)],
                                                        capture_output=True, text=True).stdout.split()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def describe(name: str, s: dict) -> str:
    line = (f"{name:11} {s['rps']:8.0f} req/s   p50 {s['p50_us'] / 1000:6.2f} ms   p99 {s['p99_us'] / 1000:6.2f} ms"
            f"   max {s['max_us'] / 1000:6.1f} ms   2xx {s['ok2xx']}   errors {s['errors']}"
            f" (non-2xx {s['non2xx']}, socket {s['socket_errors']})")
    if s["non2xx"]:
        line += f"\n         statuses {s['codes']}; first: {s['first_error']}"
    return line


# The database -----------------------------------------------------------------------------------

def count_messages(db: Path | str) -> int:
    """Rows in messages: `db` is the SQLite file, or a postgresql:// URL."""
    if isinstance(db, str):
        import psycopg
        with psycopg.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()


def empty_postgres(url: str) -> None:
    import psycopg

    from handlers.storage.copy import TABLES
    from handlers.storage.store import Store
    Store(url).migrate()
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")


def settled_count(db: Path | str, timeout: float = 5.0) -> int:
    """Row count once requests still in flight when wrk stopped have finished (stable for 0.3 s)."""
    deadline, last = time.monotonic() + timeout, -1
    while True:
        n = count_messages(db)
        if n == last or time.monotonic() > deadline:
            return n
        last = n
        time.sleep(0.3)


# Main -------------------------------------------------------------------------------------------

def main() -> int:
    global _tempdir
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="measured duration per server and round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds, alternating the order (default 3)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up per server before measuring (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--database-url", help="run the service on this PostgreSQL (its tables are emptied first)")
    args = parser.parse_args()
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")

    atexit.register(_cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)

    wrk = ensure_wrk()
    _tempdir = tempfile.mkdtemp(prefix="webhook-bench-")
    work = Path(_tempdir)
    db = args.database_url or work / "optout.sqlite3"
    if args.database_url:
        sys.path.insert(0, str(ROOT))
        empty_postgres(args.database_url)
    run_id = uuid.uuid4().hex[:8]

    web = on_loopback(web_command())
    bare_cmd = with_app(web, "bare_app:app")
    env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update({
        "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "DATABASE_PATH": str(work / "optout.sqlite3"),
        "DATABASE_URL": args.database_url or "",
        "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": "",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),  # the bare app runs from bench/ and reads handlers.gunicorn_config
    })
    if "WEB_CONCURRENCY" in os.environ:
        print(f"bench: ignoring WEB_CONCURRENCY={os.environ['WEB_CONCURRENCY']}: measuring the Procfile default")

    print(f"Procfile web line, bound to {HOST}; database {'PostgreSQL' if args.database_url else db}")
    # Two ceilings, both measured in this run: the bare app on the service's own gunicorn line, and on
    # gunicorn's plainest fast line (sync workers, one per core). A setting that slows every app does
    # not count as progress, so the ratio is taken against the faster of the two.
    sync_cmd = f"gunicorn --bind {HOST}:$PORT --workers {os.cpu_count() or 2} bare_app:app"
    ports = {name: free_port() for name in SERVERS}
    procs = {
        "service": start("service", web, ROOT, ports["service"], env, work / "service.log"),
        "bare": start("bare", bare_cmd, BENCH, ports["bare"], env, work / "bare.log"),
        "bare-sync": start("bare-sync", sync_cmd, BENCH, ports["bare-sync"], env, work / "bare-sync.log"),
    }

    c, t = args.connections, args.threads
    warm_cap = int(6000 * args.warmup) + 2000
    pools = make_pools([(name, ports[name], warm_cap) for name in SERVERS], t, work, run_id, "w")
    for name in SERVERS:
        wait_ready(name, procs[name], ports[name], work / f"{name}.log")
    print("  workers: " + ", ".join(f"{name} {count_workers(procs[name])}" for name in SERVERS)
          + f"; wrk {t} threads x {c} connections; warm-up {args.warmup:g} s, measured {args.seconds:g} s each")

    warm = {name: run_wrk(wrk, ports[name], pools[name], args.warmup, c, t) for name in SERVERS}
    rows_after_warmup = settled_count(db)
    print("warm-up  " + ", ".join(f"{name} {warm[name]['rps']:.0f} req/s" for name in SERVERS))

    # Rounds rotate which server goes first, so that drift in the machine's speed (other tenants,
    # disk flushes) falls on all alike; the verdict uses the median round.
    rounds = []
    for r in range(args.rounds):
        # Enough unique requests: 2.5x the warm-up rate plus slack (warm-up is slower). A new tag per
        # round gives new MessageSids.
        sizes = [(name, ports[name], int(max(warm[name]["rps"], 500) * 2.5 * args.seconds) + 3000)
                 for name in SERVERS]
        pools = make_pools(sizes, t, work, run_id, chr(ord("a") + r))
        order = SERVERS[r % len(SERVERS):] + SERVERS[:r % len(SERVERS)]
        res = {}
        for name in order:
            before = settled_count(db) if name == "service" else None
            cpu_before = cpu_seconds(procs[name])
            res[name] = run_wrk(wrk, ports[name], pools[name], args.seconds, c, t)
            res[name]["cpu_us"] = (cpu_seconds(procs[name]) - cpu_before) * 1e6 / max(res[name]["responses"], 1)
            if name == "service":
                res[name]["rows"] = settled_count(db) - before
        rounds.append(res)

    # Stop the service gracefully (workers finish what they hold) before looking at the database.
    for proc in procs.values():
        _stop(proc)
    rows_total = count_messages(db)
    if args.database_url:
        integrity = "ok"  # PostgreSQL checks its own pages; nothing like PRAGMA integrity_check to run
    else:
        conn = sqlite3.connect(db)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()

    print()
    print(f"Results at {c} connections, {args.rounds} rounds of {args.seconds:g} s per server "
          f"(load generator: wrk, on the same machine):")
    for r, res in enumerate(rounds, 1):
        ceiling = max(("bare", "bare-sync"), key=lambda name: res[name]["rps"])
        res["ceiling"] = ceiling
        res["ratio"] = res["service"]["rps"] / res[ceiling]["rps"] if res[ceiling]["rps"] else 0.0
        print(f"round {r}")
        for name in SERVERS:
            print(describe(f"  {name}", res[name]) + f"   CPU {res[name]['cpu_us']:5.0f} us/req")
        print(f"  ratio    service/{ceiling} (the faster bare) throughput {res['ratio']:.1%}")
    median = sorted(rounds, key=lambda res: res["ratio"])[len(rounds) // 2]
    ratio = median["ratio"]

    def mid(name, key):
        return sorted(res[name][key] for res in rounds)[len(rounds) // 2]

    p99, bare_p99 = mid("service", "p99_us") / 1000, mid(median["ceiling"], "p99_us") / 1000
    print(f"median   service/faster bare throughput {ratio:.1%}; service p99 {p99:.2f} ms "
          f"({median['ceiling']} {bare_p99:.2f} ms); CPU per request: "
          + ", ".join(f"{name} {mid(name, 'cpu_us'):.0f} us" for name in SERVERS))

    checks = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")

    print()
    check("throughput", ratio >= TARGET_RATIO,
          f"service {ratio:.1%} of the faster bare endpoint in the median round "
          f"(target >= {TARGET_RATIO:.0%}, aim {AIM_RATIO:.0%})"
          + ("" if ratio >= AIM_RATIO else f"; below the {AIM_RATIO:.0%} aim"))
    check("p99 latency", p99 < TARGET_P99_MS,
          f"service median p99 {p99:.2f} ms (target < {TARGET_P99_MS:g} ms at {c} connections; "
          f"the bare endpoint's own p99 here: {bare_p99:.2f} ms)")
    runs = [(f"{name} warm-up", warm[name]) for name in SERVERS] + [
        (f"{name} round {r}", res[name]) for r, res in enumerate(rounds, 1) for name in SERVERS]
    errors = {n: r["errors"] for n, r in runs}
    check("errors", not any(errors.values()),
          "none" if not any(errors.values()) else ", ".join(f"{n} {e}" for n, e in errors.items() if e))
    repeats = {n: r["repeats"] for n, r in runs}
    check("unique sids", not any(repeats.values()),
          "no MessageSid sent twice" if not any(repeats.values())
          else "pool too small, requests repeated: " + ", ".join(f"{n} {r}" for n, r in repeats.items() if r))
    # Rows may exceed 2xx answers by the requests in flight when wrk stopped (at most one per connection).
    measured = [(f"round {r}", res["service"]["rows"], res["service"]["ok2xx"]) for r, res in enumerate(rounds, 1)]
    measured.insert(0, ("warm-up", rows_after_warmup, warm["service"]["ok2xx"]))
    check("durability", all(0 <= rows - ok <= c for _, rows, ok in measured) and
          rows_total == sum(rows for _, rows, _ in measured),
          f"{rows_total} messages rows for {sum(ok for _, _, ok in measured)} 2xx answers: " +
          ", ".join(f"{n} {rows}/{ok}" for n, rows, ok in measured) +
          f" (rows/2xx; rows may exceed 2xx by at most {c} in flight a run)")
    check("integrity", integrity == "ok", f"PRAGMA integrity_check: {integrity}")
    ok = all(checks)
    print(f"\n{'PASS' if ok else 'FAIL'}: {sum(checks)}/{len(checks)} checks passed")
    return 0 if ok else 1


def run(main: Callable[[], int]) -> None:
    """Exit with what a benchmark's main returns; Ctrl-C stops its servers (atexit) with a word."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopping the servers", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run(main)
