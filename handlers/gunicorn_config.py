"""gunicorn settings of the web process; the Procfile's web line loads them (--config python:...).

Threads, so that webhooks arriving together share one transaction and one flush of the WAL
(handlers/storage/sqlite.py and postgres.py). The workers and threads were chosen with
bench/gunicorn_settings.py: 2 workers of 8 threads served the most webhooks per second on 2 cores,
at the lowest CPU per request (README, "Tests and benchmark").
"""

import gc
import glob
import os
import shutil
import sys
import tempfile

from dotenv import find_dotenv, load_dotenv
from gunicorn.http.wsgi import WSGIErrorsWrapper

from handlers.settings import metrics_directory, read_settings, use_metrics_directory

# Metrics: each worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR, and /metrics adds them up
# (handlers/web/metrics.py). prometheus-client reads the variable when first imported, so it is set
# here, before the app is loaded: the operator's folder if set (a tmpfs, say), else a private one made
# for this master and removed when it exits. The counts of an earlier run are cleared either way, or
# they would be added to this run's (prometheus-client's "multiprocess mode" documentation).
if metrics_directory():
    os.makedirs(metrics_directory(), exist_ok=True)
    for stale in glob.glob(os.path.join(metrics_directory(), "*.db")):
        os.remove(stale)
    _own_metrics_directory = None
else:
    _own_metrics_directory = tempfile.mkdtemp(prefix="optout-metrics-")
    use_metrics_directory(_own_metrics_directory)

from prometheus_client import multiprocess  # noqa: E402 - only once PROMETHEUS_MULTIPROC_DIR is set

from handlers.web.log_batches import batch_app_log  # noqa: E402
from handlers.web.log_format import JSON, gunicorn_log_config, log_format  # noqa: E402

# LOG_FORMAT=json: gunicorn's own lines, and any logger's without a handler, as JSON lines too (.env as
# the app reads it: create_app loads it later, this runs first).
load_dotenv(find_dotenv(usecwd=True))
if log_format(read_settings()["LOG_FORMAT"]) == JSON:
    logconfig_dict = gunicorn_log_config()

worker_class = "gthread"
threads = 8
# Load the app once in the master: a broken keywords.yaml or an unwritable database stops the
# service before any worker serves, and the schema is migrated before workers fork.
preload_app = True
# gunicorn's control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl): a second
# instance on the host would take it over. Nothing here uses it.
control_socket_disable = True
# gunicorn believes no forwarded header from anyone: by default it trusts X-Forwarded-Proto (and
# -Ssl, -Protocol, SCRIPT_NAME) from 127.0.0.1 and any UNIX socket peer, so with TRUSTED_PROXIES=0
# a local client could still make a request https (the Secure cookie, https links, a Twilio signature
# over https). Which forwarded headers count is TRUSTED_PROXIES's to say, in hops, through the app's
# ProxyFix (app.py), and nowhere else.
forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""

# A thread woken with the write lock (or the flush lock) should not wait the default 5 ms for the GIL
# while it holds the lock. Since the flush left the write lock, 1 ms and 5 ms measured within the
# bench's noise of each other (README, "Benchmark").
sys.setswitchinterval(0.001)


def when_ready(server):
    """The app is loaded (preload_app). Its log lines go out in batches, to where gunicorn's own
    go (handlers/web/log_batches.py). And it lives, with its keyword table and word lists, as long
    as the process: move it out of the cyclic collector's reach before the workers fork. A full
    collection walked all of it, stalling a worker mid-request for longer than the webhook's p99
    target (README, "Benchmark", has the figures)."""
    batch_app_log(server.app.wsgi(), WSGIErrorsWrapper(server.cfg).streams)
    gc.freeze()


def worker_exit(server, worker):
    """Write the log lines still queued before the worker goes (logging's own shutdown would too,
    if the interpreter gets that far)."""
    for handler in worker.wsgi.logger.handlers:
        handler.flush()


def child_exit(server, worker):
    """A worker is gone: its live gauges' files go with it (the counters' stay, and are still added)."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_directory:
        shutil.rmtree(_own_metrics_directory, ignore_errors=True)
