"""3. Dev server throughput: requests per second over loopback for GET metadata and for the list
route, from a load generator in a process of its own, for a bounded time each; next to a
trivial route (the hello app) served by the same uvicorn process with the same options.
Targets take turns, round after round."""

from __future__ import annotations

from collections import defaultdict

import httpx

from bench import loadgen
from bench.report import Results, Row, Stats
from bench.server import serving
from bench.services import Services
from bench.warm import fixture_png
from tests.support.multipart import upload_body

SECTION = "3 Dev server throughput"
SECONDS = 3.0
ROUNDS = 3
CONNECTIONS = 16


def upload_one(base_url: str) -> str:
    body, content_type = upload_body(fixture_png(), filename="bench.png")
    response = httpx.post(
        f"{base_url}/api/v1/images/", content=body, headers={"content-type": content_type}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["id"])


def measure(services: Services, results: Results, quick: bool) -> None:
    tool = loadgen.which()
    seconds, rounds = (2.0, 1) if quick else (SECONDS, ROUNDS)
    results.facts["Load generator"] = f"{tool}, {CONNECTIONS} connections, {seconds:g} s per run" + (
        "" if tool == "wrk" else " (wrk is not installed: the asyncio fallback)"
    )
    rps: dict[str, list[float]] = defaultdict(list)
    failures = 0
    with serving(services.env) as served:
        image_id = upload_one(served.url)
        urls = {
            "hello": f"{served.url}/hello",
            "GET metadata": f"{served.url}/api/v1/images/{image_id}",
            "GET list (20 per page)": f"{served.url}/api/v1/images/",
        }
        for url in urls.values():  # warm-up: connections, pools, caches
            loadgen.run(url, seconds=1, connections=CONNECTIONS, tool=tool)
        for _ in range(rounds):
            for name, url in urls.items():
                load = loadgen.run(url, seconds=seconds, connections=CONNECTIONS, tool=tool)
                rps[name].append(load.requests_per_second)
                failures += load.failures
    if failures:
        raise RuntimeError(f"{failures} requests failed under load")
    hello = Stats.of(rps["hello"])
    for name in ("GET metadata", "GET list (20 per page)"):
        results.add(Row(SECTION, name, "req/s", Stats.of(rps[name]), "trivial route, same server", hello))
    results.details["Dev server throughput: method"] = (
        f"`python -m bench.server`: `local.devserver.DevServer` under uvicorn (127.0.0.1, one process, "
        "`log_level=warning`, `lifespan=on`, as `make dev`), `DATABASE_POOL_SIZE=10`, with the hello "
        f"app mounted on /hello as the trivial route. Load: {results.facts['Load generator']}, "
        f"{rounds} runs per route taken in turns after a 1 s warm-up each; min-max are over runs. "
        "Every answer was a 2xx. Load generator and server share the machine's cores."
    )
