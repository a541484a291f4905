"""gunicorn settings for the web line, side by side (run by hand; not a test).

Runs the service with each setting in turn on one fresh SQLite database (or --database-url), with
bench/bare_app.py on plain sync workers (one per core) measured in the same rounds as the ceiling,
and prints requests/s, p50/p99 and CPU per request of each, the ratio to the bare endpoint, in
rounds that rotate the order (the verdict is the median round). Each setting is given as gunicorn
command-line flags added to the Procfile's web line (they win over handlers/gunicorn_config.py);
the defaults are the candidates handlers/gunicorn_config.py was chosen from:

    .venv/bin/python bench/gunicorn_settings.py [--rounds 3] [--seconds 5] [--connections 16]
        [--setting "--workers 2 --threads 8" --setting "--workers 2 --threads 4" ...]
        [--database-url postgresql://...]

The requests are webhook_load.py's: signed Twilio webhooks, each with its own MessageSid.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import webhook_load as bench

DEFAULT_SETTINGS = (
    "--workers 2 --threads 8",  # the Procfile's default (WEB_CONCURRENCY=2, gunicorn_config's threads)
    "--workers 2 --threads 4",
    "--workers 2 --threads 16",
    "--workers 3 --threads 4",
    "--workers 4 --threads 2",
    "--workers 2 --threads 2",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", action="append", help="gunicorn flags for one run (repeatable)")
    parser.add_argument("--seconds", type=float, default=5, help="measured duration per server and round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds, rotating the order")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up per server before measuring")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--database-url", help="run the service on this PostgreSQL (its tables are emptied first)")
    args = parser.parse_args()
    settings = args.setting or list(DEFAULT_SETTINGS)

    atexit.register(bench._cleanup)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench._on_signal)
    wrk = bench.ensure_wrk()
    bench._tempdir = tempfile.mkdtemp(prefix="gunicorn-settings-")
    work = Path(bench._tempdir)
    if args.database_url:
        sys.path.insert(0, str(bench.ROOT))
        bench.empty_postgres(args.database_url)
    run_id = uuid.uuid4().hex[:8]

    web = bench.on_loopback(bench.web_command())
    env = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    env.update({
        "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "DATABASE_PATH": str(work / "optout.sqlite3"),
        "DATABASE_URL": args.database_url or "",
        "KEYWORDS_PATH": str(bench.ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": bench.AUTH_TOKEN,
        "PUBLIC_BASE_URL": "",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(bench.ROOT),
    })
    names = ["bare-sync"] + settings
    commands = {"bare-sync": f"gunicorn --bind {bench.HOST}:$PORT --workers {os.cpu_count() or 2} bare_app:app"}
    for setting in settings:
        # Flags after the config file's: gunicorn takes the command line over the config file.
        commands[setting] = web.replace("--config", f"{setting} --config", 1)
    print(f"database: {'PostgreSQL' if args.database_url else work / 'optout.sqlite3'}")
    ports = {name: bench.free_port() for name in names}
    procs = {}
    for n, name in enumerate(names):
        cwd = bench.BENCH if name == "bare-sync" else bench.ROOT
        procs[name] = bench.start(f"s{n}" if name != "bare-sync" else name, commands[name], cwd, ports[name], env,
                                  work / f"server{n}.log")
    for n, name in enumerate(names):
        bench.wait_ready("service" if name != "bare-sync" else name, procs[name], ports[name], work / f"server{n}.log")

    c, t = args.connections, args.threads
    pools = bench.make_pools([(name, ports[name], int(6000 * args.warmup) + 2000) for name in names], t, work,
                             run_id, "w")
    warm = {name: bench.run_wrk(wrk, ports[name], pools[name], args.warmup, c, t) for name in names}
    rounds = []
    for r in range(args.rounds):
        sizes = [(name, ports[name], int(max(warm[name]["rps"], 500) * 2.5 * args.seconds) + 3000) for name in names]
        pools = bench.make_pools(sizes, t, work, run_id, chr(ord("a") + r))
        order = names[r % len(names):] + names[:r % len(names)]
        res = {}
        for name in order:
            cpu_before = bench.cpu_seconds(procs[name])
            res[name] = bench.run_wrk(wrk, ports[name], pools[name], args.seconds, c, t)
            res[name]["cpu_us"] = (bench.cpu_seconds(procs[name]) - cpu_before) * 1e6 / max(res[name]["responses"], 1)
        rounds.append(res)
    for proc in procs.values():
        bench._stop(proc)

    def median(name: str, key: str) -> float:
        return sorted(res[name][key] for res in rounds)[len(rounds) // 2]

    print(f"\n{args.rounds} rounds of {args.seconds:g} s at {c} connections; medians of the rounds "
          f"(bare-sync: bench/bare_app.py, sync workers, one per core)")
    print(f"{'setting':52} {'req/s':>7} {'ratio':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>11} {'errors':>7}")
    for name in names:
        ratios = sorted(res[name]["rps"] / res["bare-sync"]["rps"] for res in rounds)
        errors = sum(res[name]["errors"] for res in rounds) + warm[name]["errors"]
        print(f"{name:52} {median(name, 'rps'):7.0f} {ratios[len(ratios) // 2]:7.1%} "
              f"{median(name, 'p50_us') / 1000:7.2f} {median(name, 'p99_us') / 1000:7.2f} "
              f"{median(name, 'cpu_us'):11.0f} {errors:7d}")
    return 0


if __name__ == "__main__":
    bench.run(main)
