"""Benchmark (run by hand, not a test): the memory of the Procfile's web process (gunicorn, its master and
workers) serving this checkout, against the same at a git revision before the trained model (default
ee39f7f), both started in this run with the same settings: proportional set size (PSS: a page shared by
n processes counts 1/n to each, so the sum is what the machine spends) and resident size per process,
after a few webhooks, one of them read by the model.

    .venv/bin/python bench/memory.py [--baseline ee39f7f] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-memory-token"


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("the Procfile has no web: line")


def kib(pid: int, field: str) -> int:
    """A field of /proc/<pid>/smaps_rollup (Pss, Rss), in KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def group(leader: int) -> list[int]:
    """The arbiter and its workers."""
    found = [leader]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == leader:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def post(base: str, body: str, n: int) -> None:
    url = f"{base}/webhooks/twilio/sms"
    params = {"Body": body, "From": "+14155550100", "MessageSid": f"SMmem{n:030d}", "FromCountry": "US"}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, headers={"X-Twilio-Signature": signature})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def measure(checkout: Path, workers: int, work: Path, name: str) -> dict:
    port = 18000 + (os.getpid() % 1000) + (7 if name == "this checkout" else 0)
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": str(workers), "BIND_ADDRESS": "127.0.0.1",
           "DATABASE_PATH": str(work / f"{name[:4]}.sqlite3"), "TWILIO_AUTH_TOKEN": TOKEN,
           "MODEL_CACHE_DIR": str(work / "models"), "KEYWORDS_PATH": str(checkout / "keywords.yaml"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "migrate"], cwd=checkout, env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen(["sh", "-c", f"exec {procfile_web()}"], cwd=checkout, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a first start trains the model
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"{name}: the server did not start") from None
                time.sleep(0.2)
        for n, body in enumerate(["STOP", "START", "who is this??", "thanks, see you then", "HELP"] * workers):
            post(base, body, n)
        time.sleep(1)
        pids = group(server.pid)
        return {"processes": len(pids), "pss": sum(kib(p, "Pss") for p in pids) / 1024,
                "rss": [kib(p, "Rss") / 1024 for p in pids]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="ee39f7f")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as folder:
        work = Path(folder)
        baseline = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                       check=True, capture_output=True)
        try:
            # The current checkout first: its model is trained (and cached) before anything is measured.
            subprocess.run([sys.executable, "-c", "import app; app.create_app()"], cwd=ROOT, check=True,
                           env={**os.environ, "MODEL_CACHE_DIR": str(work / "models"),
                                "DATABASE_PATH": str(work / "warm.sqlite3")}, capture_output=True)
            figures = {name: measure(path, args.workers, work, name)
                       for name, path in (("baseline " + args.baseline, baseline), ("this checkout", ROOT))}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], check=False)
    print(f"gunicorn from the Procfile, {args.workers} workers, after a few webhooks:")
    for name, f in figures.items():
        print(f"  {name:<22} {f['processes']} processes, PSS {f['pss']:6.1f} MiB in all; "
              f"RSS " + ", ".join(f"{r:.1f}" for r in f["rss"]) + " MiB (arbiter first)")
    old, new = figures.values()
    print(f"  added by the model: {new['pss'] - old['pss']:.1f} MiB PSS for the whole web process "
          f"(x{new['pss'] / old['pss']:.2f})")


if __name__ == "__main__":
    main()
