"""Load generators, each in a process of its own: wrk when it is installed (Debian's `wrk`),
otherwise `python -m bench.loadgen URL SECONDS CONNECTIONS`, keep-alive HTTP/1.1 GETs over
asyncio streams (an httpx client tops out near 200 requests/s here, below the server).
Both run for a bounded time and report requests per second and non-2xx answers."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.services import child_env
from local.routes import ROOT


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    requests: int
    failures: int  # non-2xx answers and socket errors


def which() -> str:
    """The load generator this machine has: wrk, or the asyncio fallback."""
    return "wrk" if shutil.which("wrk") else "asyncio"


def run(url: str, *, seconds: float, connections: int, tool: str | None = None) -> Load:
    if (tool or which()) == "wrk":
        return _wrk(url, seconds=seconds, connections=connections)
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", url, str(seconds), str(connections)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    found = json.loads(out.stdout)
    return Load(found["rps"], found["requests"], found["failures"])


def _wrk(url: str, *, seconds: float, connections: int) -> Load:
    wrk = shutil.which("wrk")
    assert wrk is not None
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failures += sum(int(n) for n in errors.groups())
    return Load(float(rps.group(1)), int(total.group(1)), failures)


async def _connection(host: str, port: int, request: bytes, deadline: float) -> tuple[int, int]:
    """One keep-alive connection sending request after request until the deadline."""
    done = failures = 0
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise RuntimeError("the load generator needs responses with a Content-Length")
            await reader.readexactly(int(length.group(1)))
            done += 1
            failures += not 200 <= status < 300
    finally:
        writer.close()
    return done, failures


async def _client(url: str, seconds: float, connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_connection(host, port, request, started + seconds) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    done = sum(c[0] for c in counts)
    return {"rps": done / elapsed, "requests": done, "failures": sum(c[1] for c in counts)}


def main() -> int:
    url, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(_client(url, seconds, connections))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
