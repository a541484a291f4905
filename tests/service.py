"""The Procfile's web command run for real, as tests start, kill and restart it, and Twilio's deliveries to it.

Nothing here waits a fixed time and hopes: each wait polls for the state a test needs (the service
answering, a delivery inside a worker) until it holds. Their deadlines are generous, only to end a
hang, because a busy machine may be slow but must not make a test wrong."""

import contextlib
import http.client
import itertools
import os
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from conftest import ADMIN_TOKEN, AUTH_TOKEN, HANG, ROOT, free_port, procfile_line, twilio_params, wait_until
from twilio.request_validator import RequestValidator

SMS_WEBHOOK = "/webhooks/twilio/sms"
# One delivery's timeout: far above a loaded machine's slowest answer, so that a slow answer is not
# taken for a lost one (Twilio itself waits 15 s).
DELIVERY_TIMEOUT = 120


class Service:
    """The Procfile's web command on one port and one database, which a test can kill and restart."""

    def __init__(self, tmp_path, **env):
        """`env`: more settings, e.g. DATABASE_URL for PostgreSQL (the default is a SQLite file in tmp_path)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = str(tmp_path / "faults.sqlite3")
        self.env = {**os.environ, "PATH": f"{os.path.dirname(os.sys.executable)}:{os.environ['PATH']}",
                    "PORT": str(self.port), "DATABASE_PATH": self.db, "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, "WEB_CONCURRENCY": "2", **env}
        self.process = None

    def release(self):
        """The Procfile's release command (migrate) with this service's settings."""
        subprocess.run(procfile_line("release"), shell=True, cwd=ROOT, env=self.env, check=True, capture_output=True)

    def start(self):
        self.process = subprocess.Popen(procfile_line("web"), shell=True, cwd=ROOT, env=self.env,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.wait_until_serving()
        except AssertionError:
            self.kill_all()  # not left running (and holding a port and CPU) after the test fails
            raise

    def wait_until_serving(self):
        """Until this service's own master has all its workers and /healthz answers 200. Its own: a
        server of another test on the same port would answer /healthz too."""
        def serving():
            assert self.process.poll() is None, "the service stopped while starting"
            try:
                if len(self.workers()) < int(self.env["WEB_CONCURRENCY"]):
                    return False
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=DELIVERY_TIMEOUT) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError):
                return False
        wait_until(serving, "the service serving")

    def master(self) -> int | None:
        """gunicorn's master in this service's session (not the shell: its command line has $PORT unexpanded)."""
        out = subprocess.run(["pgrep", "-s", str(self.process.pid), "-o", "-f", f"gunicorn --bind [0-9.]*:{self.port}"],
                             capture_output=True, text=True).stdout
        return int(out.split()[0]) if out.split() else None

    def workers(self) -> list[int]:
        master = self.master()
        if master is None:
            return []
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def holds(self, deliveries) -> bool:
        """Whether each held delivery's connection has been accepted by one of the workers (so a kill cuts it)."""
        wanted = server_sockets(self.port, {d.client_port for d in deliveries})
        if len(wanted) < len(deliveries):
            return False
        taken = set()
        for pid in self.workers():
            taken |= sockets_of(pid)
        return wanted <= taken

    def kill_all(self):
        """kill -9 of the whole service, and wait until every process of it is gone (and its port free)."""
        with contextlib.suppress(ProcessLookupError):  # gone already (it failed to start)
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(HANG)
        wait_until(lambda: not group_alive(self.process.pid), "every process of the killed service gone")

    def stop(self):
        """gunicorn's graceful stop; returns once every process of the service is gone (and its
        database connections closed, so that the next test can empty the database)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(HANG)
            wait_until(lambda: not group_alive(self.process.pid), "every process of the stopped service gone")


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def server_sockets(port: int, client_ports: set[int]) -> set[str]:
    """Inodes of the established connections to `port` on this host from those client ports (/proc/net/tcp)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in itertools.islice(table, 1, None):
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in client_ports:
                inodes.add(inode)
    return inodes


def sockets_of(pid: int) -> set[str]:
    """Inodes of the sockets process `pid` holds open (none if it is gone)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def signed(service, params) -> tuple[bytes, str]:
    """The form body and its X-Twilio-Signature, as Twilio sends them to `service`."""
    url = f"{service.base}{SMS_WEBHOOK}"
    return urllib.parse.urlencode(params).encode(), RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def deliver(service, params):
    """One delivery as Twilio makes it; the HTTP status, or None when the connection failed."""
    return deliver_with_body(service, params)[0]


def deliver_with_body(service, params):
    """(HTTP status or None when the connection failed, the response body)."""
    body, signature = signed(service, params)
    request = urllib.request.Request(f"{service.base}{SMS_WEBHOOK}", data=body,
                                     headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None, ""


class HeldDelivery:
    """A delivery sent but for the last byte of its body: the worker that takes it waits inside the
    request until finish(). A test that kills the service knows this request was in flight."""

    def __init__(self, service, params):
        self.params = params
        body, signature = signed(service, params)
        self.rest = body[-1:]
        self.connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=DELIVERY_TIMEOUT)
        self.connection.putrequest("POST", SMS_WEBHOOK)
        self.connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        self.connection.putheader("Content-Length", str(len(body)))
        self.connection.putheader("X-Twilio-Signature", signature)
        self.connection.endheaders(body[:-1])
        self.client_port = self.connection.sock.getsockname()[1]

    def finish(self):
        """Send the last byte: the HTTP status, or None when the connection was cut."""
        try:
            self.connection.send(self.rest)
            response = self.connection.getresponse()
            response.read()
            return response.status
        except (http.client.HTTPException, OSError):
            return None
        finally:
            self.connection.close()


def stops_until_hurt(targets, hurt, first_sender: int, answered_first=100, held=4, after=3):
    """Signed STOPs from 16 threads, round robin over the services `targets`, that go on until hurt() is done
    (each thread sending at most `after` more once it has begun). hurt() runs once `answered_first` are
    answered and `held` held deliveries are inside the workers of targets[0]: so it lands mid-stream and
    mid-request by construction, not by timing. Returns ({MessageSid: status or None} of every delivery,
    every delivery's params, the held ones' MessageSids)."""
    senders, lock = itertools.count(first_sender), threading.Lock()
    results, sent, answered = {}, [], [0]
    hurting, hurt_done = threading.Event(), threading.Event()

    def next_stop():
        with lock:
            sent.append(twilio_params("STOP", sender=f"+1415{next(senders):07d}"))
            return sent[-1], targets[len(sent) % len(targets)]

    def keep_delivering():
        left = after
        while not hurt_done.is_set() and left > 0:
            left -= hurting.is_set()
            params, target = next_stop()
            status = deliver(target, params)
            with lock:
                results[params["MessageSid"]] = status
                answered[0] += status == 200

    with ThreadPoolExecutor(16) as pool:
        streams = [pool.submit(keep_delivering) for _ in range(16)]
        try:
            wait_until(lambda: answered[0] >= answered_first or any(s.done() for s in streams),
                       f"{answered_first} deliveries answered")
            for stream in streams:
                if stream.done():
                    stream.result()  # a thread that ended early raised: say why
            holding = [HeldDelivery(targets[0], next_stop()[0]) for _ in range(held)]
            wait_until(lambda: targets[0].holds(holding), "the held deliveries inside the workers")
            hurting.set()
            hurt()
        finally:
            hurt_done.set()
        for stream in streams:
            stream.result()
    for delivery in holding:
        results[delivery.params["MessageSid"]] = delivery.finish()
    return results, sent, {delivery.params["MessageSid"] for delivery in holding}
