"""The dev server as its own process, started the way `make dev` starts it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def dev_server_process(
    env: dict[str, str], *, port: int, transcript: list[str] | None = None
) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """Yields (base URL, start-up banner, process) once it answers; SIGTERM at the end, and the
    exit code must be 0. transcript, when given, receives everything it printed (stdout and
    stderr), up to its exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local.devserver"],
        cwd=ROOT,
        env={**env, "DEV_PORT": str(port), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(process, "Stores")  # the banner's last line
        if transcript is not None:
            transcript.append(banner)
        base = f"http://127.0.0.1:{port}"
        wait_for(base)
        yield base, banner, process
    finally:
        process.terminate()
        exit_code = process.wait(timeout=30)
        assert process.stdout is not None
        if transcript is not None:
            transcript.append(process.stdout.read())
        process.stdout.close()
    assert exit_code == 0


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "dev server exited:\n" + "".join(lines)
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("no banner:\n" + "".join(lines))


def wait_for(base: str) -> None:
    """Until the server accepts connections: uvicorn binds only once the app is ready. A bare
    connect, so that no request shows up in an access log under test."""
    host, port = base.removeprefix("http://").split(":")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answered at {base}")
