"""gunicorn settings of the web process; the Procfile's web line loads them (--config python:...).

Threads, so that webhooks arriving together share one transaction and one flush of the WAL
(handlers/storage/sqlite.py and postgres.py). The workers and threads were chosen with
bench/gunicorn_settings.py: 2 workers of 8 threads served the most webhooks per second on 2 cores,
at the lowest CPU per request (README, "Tests and benchmark").
"""

import gc
import sys

from gunicorn.http.wsgi import WSGIErrorsWrapper

from handlers.web.log_batches import batch_app_log

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
