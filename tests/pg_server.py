"""A PostgreSQL server for the tests, with nothing installed by hand.

Contract:

- `server_url()` returns a libpq URL of a server where the tests may create and drop databases (a superuser).
  If `TEST_DATABASE_URL` is set it is returned unchanged. Otherwise a throwaway cluster is started from the
  installed server binaries (`initdb`/`pg_ctl` on PATH, else the highest `/usr/lib/postgresql/*/bin`), once per
  process, on 127.0.0.1 and a free port, in a fresh temporary directory; it is stopped and removed at exit.
  When there is no way to have a server, or it fails to start, `PostgresUnavailable` says why and how to fix it.
- `create_database(server)` creates a new, empty database there and returns its URL.
- `drop_database(server, name_or_url)` drops one, even if connections to it are still open.
"""

import atexit
import itertools
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["PostgresUnavailable", "server_url", "create_database", "drop_database"]

HOW_TO_ENABLE = (
    "set TEST_DATABASE_URL, or install PostgreSQL's server (apt-get install -y postgresql); "
    "`make test` does this when run as root"
)
# PostgreSQL refuses to run as root; this is the user Debian's package creates for it.
SERVER_USER = "postgres"
CONNECT_TIMEOUT = 10  # seconds; a wrong TEST_DATABASE_URL should fail, not hang the suite
START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections

_lock = threading.Lock()
_url: str | None = None
_names = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be had for the tests; the message says why and how to get one."""


def server_url() -> str:
    """The URL of a PostgreSQL server where the tests may create databases; see the module docstring."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    global _url
    with _lock:
        if _url is None:
            _url = _start_cluster()
        return _url


def create_database(server: str, name: str | None = None, template: str | None = None) -> str:
    """Create a database on `server` (from `template` if given) and return its URL.

    Without `name`, the name is unique: several processes (or CI jobs) may share one server.
    """
    name = name or f"optout_test_{os.getpid()}_{next(_names)}_{secrets.token_hex(3)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(server, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute(statement)
    return _with_dbname(server, name)


def drop_database(server: str, name_or_url: str) -> None:
    """Drop a database given by name or by URL, closing any connections still open to it.

    A database that does not exist is not an error, so this can run in a teardown whatever the test did.
    """
    name = conninfo_to_dict(name_or_url)["dbname"] if ("://" in name_or_url or "=" in name_or_url) else name_or_url
    with psycopg.connect(server, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(str(name)))
        if conn.info.server_version >= 130000:  # WITH (FORCE) is new in PostgreSQL 13
            statement += sql.SQL(" WITH (FORCE)")
        conn.execute(statement)


def _with_dbname(server: str, name: str) -> str:
    """`server` with its database replaced by `name`, in the same form (URL or key=value string)."""
    if server.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(server)
        return urlunsplit(parts._replace(scheme="postgresql", path="/" + quote(name, safe="")))
    return make_conninfo(server, dbname=name)


# The throwaway cluster.


def _server_binaries() -> Path | None:
    """The directory holding both initdb and pg_ctl: PATH's first (someone chose it), else the newest Debian one."""
    candidates = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return directory
    return None


def _version(bin_dir: Path) -> tuple[int, ...]:
    """(9, 6) for /usr/lib/postgresql/9.6/bin, so 16 sorts above 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a program as a user PostgreSQL accepts, and that user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True, capture_output=True)
        user = pwd.getpwnam(SERVER_USER)
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVER_USER, "--"], user
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"], user
    return ["su", "-s", "/bin/sh", SERVER_USER, "-c"], user  # su takes one shell command: see _run


def _run(prefix: list[str], args: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(arg) for arg in args]
    command = prefix + ([shlex.join(command)] if prefix[:1] == ["su"] else command)
    # cwd: the server user may not be allowed into ours (e.g. under /root), which initdb and pg_ctl complain about.
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no server log: {error})"


def _start_cluster() -> str:
    bin_dir = _server_binaries()
    if bin_dir is None:
        raise PostgresUnavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {HOW_TO_ENABLE}")
    prefix, user = _as_server_user()
    tmp = Path(tempfile.mkdtemp(prefix="optout-pg-"))
    if user is not None:
        os.chown(tmp, user.pw_uid, user.pw_gid)
    data, log = tmp / "data", tmp / "server.log"
    try:
        _initdb(bin_dir, prefix, tmp, data, as_user=user is not None)
        port = _start(bin_dir, prefix, tmp, data, log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atexit.register(_stop, bin_dir, prefix, tmp, data, os.getpid())
    return f"postgresql://{SERVER_USER}@127.0.0.1:{port}/postgres"


def _initdb(bin_dir: Path, prefix: list[str], tmp: Path, data: Path, as_user: bool) -> None:
    # trust: the server listens only on 127.0.0.1 and a socket in a private directory, for a test run's lifetime.
    # --no-sync: if the machine crashes the cluster is lost, which for a throwaway one costs nothing.
    base = [bin_dir / "initdb", "-D", data, "-A", "trust", "-U", SERVER_USER, "--encoding=UTF8", "--no-sync",
            "--no-instructions"]
    result = _run(prefix, [*base, "--locale=C.UTF-8"], tmp)
    if result.returncode != 0 and "locale" in result.stderr:
        # No C.UTF-8 here (older glibc without it built in); the C locale works with any encoding.
        # initdb removes the data directory it created when it fails, so it can simply run again.
        result = _run(prefix, [*base, "--no-locale"], tmp)
    if result.returncode != 0:
        hint = f"\n(initdb ran as user {SERVER_USER}, who must be able to reach {tmp}: check TMPDIR)"
        raise PostgresUnavailable(f"initdb failed:\n{result.stdout}{result.stderr}{hint if as_user else ''}")


def _start(bin_dir: Path, prefix: list[str], tmp: Path, data: Path, log: Path) -> int:
    """Start the server on a free port and return the port."""
    for _attempt in range(3):
        port = _free_port()
        options = [
            "-p", str(port), "-k", shlex.quote(str(tmp)), "-c", "listen_addresses=127.0.0.1",
            # fsync and full_page_writes off: only safe if the server never crashes mid-write, and it is not made
            # to: these tests kill our app's processes, never PostgreSQL itself. Its files are discarded at exit.
            "-c", "fsync=off", "-c", "full_page_writes=off",
            # The tests run several app processes, each with its own pool, possibly under pytest-xdist.
            "-c", "max_connections=300", "-c", "shared_buffers=64MB",
        ]
        result = _run(prefix, [bin_dir / "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", str(START_TIMEOUT),
                               "-o", " ".join(options)], tmp)
        if result.returncode == 0:
            return port
        # Another process may have taken the port between _free_port() and the server binding it.
        if "could not bind" not in _tail(log):
            break
    raise PostgresUnavailable(f"the PostgreSQL server did not start; the end of {log}:\n{_tail(log)}\n"
                              f"{result.stdout}{result.stderr}")


def _stop(bin_dir: Path, prefix: list[str], tmp: Path, data: Path, owner_pid: int) -> None:
    # A forked child that exits through atexit must not stop the server its parent is still using.
    if os.getpid() != owner_pid:
        return
    # immediate: nothing in a throwaway cluster is worth a clean shutdown's checkpoint.
    _run(prefix, [bin_dir / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w"], tmp)
    shutil.rmtree(tmp, ignore_errors=True)
