"""Debian's pgbouncer in pool_mode = transaction in front of a PostgreSQL: it treats clients as
RDS Proxy does (no startup options, no session state kept from one transaction to the next), so
the layer can be proven to work behind a transaction-pooling proxy."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BINARY = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
# Passed over rather than refused. `options` is not among them: RDS Proxy refuses it too.
_IGNORED = "extra_float_digits"


def available() -> bool:
    return BINARY is not None


@contextmanager
def pgbouncer(database_url: str) -> Iterator[str]:
    """pgbouncer on a free loopback port, transaction pooling to database_url's server (TCP or
    Unix socket); yields the URL of the same database through it."""
    assert BINARY is not None, "pgbouncer is not installed (apt-get install pgbouncer)"
    upstream = conninfo_to_dict(database_url)
    host = str(upstream.get("host") or "127.0.0.1")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="imageapi-pgbouncer-") as workdir:
        ini = Path(workdir) / "pgbouncer.ini"
        server = f"host={host} port={upstream.get('port') or 5432} user={upstream.get('user') or 'postgres'}"
        if upstream.get("password"):
            server += f" password={upstream['password']}"
        ini.write_text(
            "[databases]\n"
            f"* = {server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = any\n"
            "pool_mode = transaction\n"
            "max_client_conn = 200\n"
            "default_pool_size = 10\n"
            f"ignore_startup_parameters = {_IGNORED}\n"
            "server_reset_query =\n"
        )
        os.chmod(workdir, 0o755)  # read by the unprivileged user pgbouncer switches to
        ini.chmod(0o644)
        command = [BINARY, str(ini)]
        if os.geteuid() == 0:  # it refuses to run as root: run as whoever may reach the server
            command[1:1] = ["-u", _unprivileged_user(host)]
        # Its log goes to a file: a pipe nobody reads would fill up and stop it mid-run.
        log = (Path(workdir) / "pgbouncer.log").open("w")
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, text=True
        )
        try:
            url = make_conninfo(database_url, host="127.0.0.1", port=port, sslmode="disable")
            _wait_until_serving(url, process, Path(log.name))
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _unprivileged_user(host: str) -> str:
    """The owner of a Unix socket's folder (the embedded server's own user), else nobody."""
    if host.startswith("/"):
        owner = pwd.getpwuid(Path(host).stat().st_uid).pw_name
        if owner != "root":
            return owner
    return "nobody"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {log.read_text().strip()}")
        try:
            with psycopg.connect(url, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
