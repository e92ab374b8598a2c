"""Upload sessions at 50 MiB and 200 MiB (MAX_SESSION_UPLOAD_BYTES): create, PUT straight to the
store, complete. The PUT is set against boto3's upload_fileobj of the same file to the same
store; the complete step, which reads the incoming object and streams the checked bytes to
images/<id>, against boto3 doing that same read and write with nothing in between.

    python -m bench.sessions            both sizes, three runs each (about 3 minutes)
    python -m bench.sessions --quick    20 MiB and 50 MiB
    python -m bench --only sessions     the same rows in make bench's table

The store is `rclone serve s3` over a temporary directory (it enforces the signed length, as AWS
does); PostgreSQL is embedded. The complete function runs in a process of its own, so that its
peak RSS is its own (VmHWM): it imports the handler, says so, then handles one API Gateway v2
event; the time is the handler's, as a warm Lambda's would be. Create is invoked in this process,
after one warm-up invocation. The file is bench.streaming's PNG: valid headers, random
IDAT data, so that every byte is hashed and walked as a real upload's would be."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from local.routes import LAYER_DIR, ROOT

if str(LAYER_DIR) not in sys.path:  # `python -m bench.sessions` without the Makefile's PYTHONPATH
    sys.path.insert(0, str(LAYER_DIR))

from bench.report import Goal, Results, Row, Stats
from bench.services import child_env, create_database
from bench.streaming import write_png
from imageapi.routes.sessions import PUBLISH_SECONDS
from local.apigw import build_v2_event, response_from_result
from local.routes import RouteTable, load_handler, load_routes
from local.services import embedded_postgres, rclone_s3, s3_client
from tests.support.layer import reset_layer_caches
from tests.support.targets import LambdaContext

MiB = 1024 * 1024
SIZES = (50, 200)  # 200 MiB: MAX_SESSION_UPLOAD_BYTES's default
BUCKET = "bench-sessions"
WARM_UP = {"description": "warm-up", "filename": "warm.png"}  # a session never completed

# The complete function alone in a process: imports, reports its RSS, handles the event it is
# given on stdin, reports how long that took and its peak RSS.
_COMPLETE_CHILD = """
import json, sys, time
import psutil
from local.routes import RouteTable, load_handler, load_routes
from tests.support.targets import LambdaContext
route, _, _ = RouteTable(load_routes()).match("POST", "/api/v1/uploads/x/complete")
handler = load_handler(route)
print(json.dumps({"rss_idle": psutil.Process().memory_info().rss}), flush=True)
event = json.loads(sys.stdin.readline())
began = time.perf_counter()
result = handler(event, LambdaContext())
seconds = time.perf_counter() - began
# VmHWM: this process image's own peak. ru_maxrss would also count the parent's pages at fork.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
peak = int(hwm.split()[1]) * 1024
print(json.dumps({"seconds": seconds, "status": result["statusCode"], "rss_peak": peak}), flush=True)
"""


@dataclass
class Run:
    create_s: float
    put_s: float
    complete_s: float
    direct_s: float  # boto3 upload_fileobj of the same file
    relay_s: float  # boto3 reading that object and writing it again: the least a complete moves
    rss_idle: int
    rss_peak: int

    @property
    def total_s(self) -> float:
        return self.create_s + self.put_s + self.complete_s


@dataclass
class Measured:
    size_mib: int
    runs: list[Run]

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(run, name) for run in self.runs))


@contextmanager
def services(workdir: Path) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        server_url = os.environ.get("BENCH_DATABASE_URL") or stack.enter_context(
            embedded_postgres(workdir / "postgres", keep=False)
        )
        endpoint = stack.enter_context(rclone_s3(workdir / "s3", buckets=(BUCKET,)))
        env = {
            **endpoint.environment(),
            "S3_BUCKET": BUCKET,
            "DATABASE_URL": create_database(server_url, "bench_sessions"),
            "MAX_SESSION_UPLOAD_BYTES": str(1024 * MiB),
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        reset_layer_caches()
        stack.callback(reset_layer_caches)
        yield env


@cache
def _routes() -> RouteTable:
    return RouteTable(load_routes())  # template.yaml, read once


def _event(method: str, path: str, body: bytes = b"") -> tuple[dict[str, Any], Any]:
    """The v2 event for a request, and the route it matched."""
    route, params, _ = _routes().match(method, path)
    assert route is not None
    headers = [("host", "bench.execute-api.us-east-1.amazonaws.com"), ("content-type", "application/json")]
    event = build_v2_event(
        route, method=method, raw_path=path, raw_query="", headers=headers, body=body, path_parameters=params
    )
    return event, route


def _invoke(method: str, path: str, body: bytes = b"") -> dict[str, Any]:
    """This process's handler's answer to a request."""
    event, route = _event(method, path, body)
    return load_handler(route)(event, LambdaContext())


def measure(size_mib: int, workdir: Path, env: dict[str, str], *, repeats: int) -> Measured:
    path = workdir / f"{size_mib}.png"
    digest = write_png(path, size_mib * MiB)
    try:
        return Measured(size_mib, [_run(path, digest, env) for _ in range(repeats)])
    finally:
        path.unlink()


def _run(path: Path, digest: str, env: dict[str, str]) -> Run:
    size = path.stat().st_size
    direct = s3_client(
        env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"],
    )
    began = time.perf_counter()
    with path.open("rb") as f:
        direct.upload_fileobj(f, BUCKET, "direct")
    direct_s = time.perf_counter() - began

    complete = subprocess.Popen(
        [sys.executable, "-c", _COMPLETE_CHILD],
        cwd=ROOT,
        env=child_env(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert complete.stdin is not None and complete.stdout is not None
        idle = json.loads(complete.stdout.readline())

        _invoke("POST", "/api/v1/uploads", json.dumps({**WARM_UP, "size_bytes": size}).encode())  # imports
        request = {"description": "bench", "filename": "bench.png", "size_bytes": size, "sha256": digest}
        event, route = _event("POST", "/api/v1/uploads", json.dumps(request).encode())
        handler = load_handler(route)
        began = time.perf_counter()
        created = handler(event, LambdaContext())
        response = response_from_result(created)
        assert response.status == 201, response.body
        session = json.loads(response.body)
        create_s = time.perf_counter() - began

        upload = session["upload"]
        began = time.perf_counter()
        with path.open("rb") as f:  # streamed from the file, with the signed headers
            put = httpx.put(upload["url"], headers=upload["headers"], content=f, timeout=600)
        put_s = time.perf_counter() - began
        assert put.status_code == 200, put.text

        event, _ = _event("POST", f"/api/v1/uploads/{session['upload_id']}/complete")
        complete.stdin.write(json.dumps(event) + "\n")
        complete.stdin.flush()
        done = json.loads(complete.stdout.readline())
        assert done["status"] == 201, done
    finally:
        complete.wait(timeout=60)

    began = time.perf_counter()
    body = direct.get_object(Bucket=BUCKET, Key="direct")["Body"]
    direct.upload_fileobj(body, BUCKET, "relayed")
    relay_s = time.perf_counter() - began
    direct.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "direct"}, {"Key": "relayed"}]})
    return Run(create_s, put_s, done["seconds"], direct_s, relay_s, idle["rss_idle"], done["rss_peak"])


def report(results: list[Measured]) -> str:
    """Medians over the runs; ratios are boto3's time over ours (1.0: as fast as boto3)."""
    lines = [
        "| Size | runs | create | PUT to S3 | PUT vs boto3 | complete | complete MiB/s"
        " | boto3 read + write | complete vs that | complete RSS idle / peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in results:
        complete, relay, direct = m.median("complete_s"), m.median("relay_s"), m.median("direct_s")
        peak = max(run.rss_peak for run in m.runs)
        lines.append(
            f"| {m.size_mib} MiB | {len(m.runs)} | {m.median('create_s') * 1000:.0f} ms"
            f" | {m.median('put_s'):.2f} s | {direct / m.median('put_s'):.2f} | {complete:.2f} s"
            f" | {m.size_mib / complete:.1f} | {relay:.2f} s | {relay / complete:.2f}"
            f" | {m.median('rss_idle') / MiB:.0f} / {peak / MiB:.0f} MiB |"
        )
    return "\n".join(lines)


SECTION = "7 upload sessions"
COMPLETE_TIMEOUT_S = 29  # template.yaml's CompleteUploadFunction Timeout


def measure_into(results: Results, quick: bool) -> None:
    """make bench's section: the complete step at each size, next to boto3 moving the same bytes,
    and its peak RSS; the complete of the largest session must fit the function's Timeout."""
    sizes, repeats = ((20, 50), 1) if quick else (SIZES, 3)
    with tempfile.TemporaryDirectory(prefix="imageapi-bench-sessions-") as tmp, services(Path(tmp)) as env:
        measured = [measure(size, Path(tmp), env, repeats=repeats) for size in sizes]
    for m in measured:
        results.add(
            Row(
                SECTION,
                f"complete of a {m.size_mib} MiB session ({m.size_mib / m.median('complete_s'):.1f} MiB/s)",
                "s",
                Stats.of([run.complete_s for run in m.runs]),
                "boto3 reading it and writing it again",
                Stats.of([run.relay_s for run in m.runs]),
                goals=(Goal(COMPLETE_TIMEOUT_S - PUBLISH_SECONDS, on_value=True, worst=True),),
            )
        )
        results.add(
            Row(
                SECTION,
                f"complete of a {m.size_mib} MiB session: peak RSS",
                "MiB",
                Stats.of([run.rss_peak / MiB for run in m.runs]),
                "the function idle",
                Stats.of([run.rss_idle / MiB for run in m.runs]),
            )
        )
    results.details[SECTION] = report(measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 MiB and 50 MiB")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "There is no current event loop", DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    sizes, repeats = ((20, 50), 1) if args.quick else (SIZES, 3)
    with tempfile.TemporaryDirectory(prefix="imageapi-bench-sessions-") as tmp, services(Path(tmp)) as env:
        results = [measure(size, Path(tmp), env, repeats=repeats) for size in sizes]
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
