"""1. Cold start: a fresh `python -I -S -B` process per measurement, with sys.path set to exactly
the function's artifact directory, the layer's python/ directory and the standard library (what
Lambda gives a function), timed from before `import app` to a handler ready to answer.

Lambda's code directories are read-only, so nothing may be written (-B). Two trees, each on every
function and baseline, interleaved:
- sam build output: what `sam build` wrote. That holds no .pyc, so every module of the function
  and the layer is compiled at each cold start;
- precompiled: a copy of it after `python -m compileall --invalidation-mode unchecked-hash`
  (what `make build` ships since it compiles after sam build), so every module loads from its
  .pyc."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.build import HELLO, MONOLITH, WORK_DIR, Build, find_python312
from bench.report import Goal, Results, Row, Stats, fmt
from bench.services import Services
from tests.support.events import load_event

SECTION = "1 Cold start"
PROCESSES = 10
PYC_COPY = WORK_DIR / "precompiled"
METADATA = ("ListImagesFunction", "GetImageFunction")
GOAL = Goal(1.15)
PROFILE_RUNS = 3
AS_BUILT = "as built"
PRECOMPILED = "precompiled"

_CHILD = """
import sys, time
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
import app
handler = app.handler
elapsed = time.perf_counter() - started
loaded = sorted(sys.modules)
import json
print(json.dumps({"seconds": elapsed, "modules": loaded, "path": sys.path}))
"""
# Settings the layer reads at import; nothing is connected before the first request.
_ENV = {"LANG": "C.UTF-8", "LOG_LEVEL": "WARNING", "S3_BUCKET": "bench", "DATABASE_URL": "postgresql:///x"}

# What only some routes need; whatever a function loads from another route's list (and not from
# its own) is a module its route does not need.
S3 = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3", "imageapi.store.storage")
NEEDS: dict[str, tuple[str, ...]] = {
    "ListImagesFunction": ("imageapi.routes.listing", "imageapi.http.pagination"),
    "GetImageFunction": ("imageapi.routes.images",),
    "DownloadImageFunction": (*S3, "imageapi.routes.downloads", "imageapi.http.filenames"),
    "UploadImageFunction": (
        *S3,
        "imageapi.routes.uploads",
        "imageapi.http.forms",
        "imageapi.formats.imaging",
        "imageapi.http.filenames",
        "multipart",
    ),
    "ThumbnailFunction": (
        *S3,
        "imageapi.routes.thumbnails",
        "imageapi.formats.rendering",
        "imageapi.routes.images",
        "PIL",
        "pillow_heif",
        "_pillow_heif",
    ),
    "DeleteImageFunction": (*S3, "imageapi.routes.deletion"),
    "GalleryFunction": ("imageapi.routes.gallery",),
}
# Needed by no deployed route (Pillow: but the thumbnail function's): the dev server's pool,
# LocalStack, local tooling.
NEVER = (
    "psycopg_pool",
    "localstack_client",
    "PIL",
    "yaml",
    "moto",
    "httpx",
    "uvicorn",
    "imageapi.store.migrate",
)


@dataclass(frozen=True)
class Start:
    seconds: float
    modules: list[str]


def _run(python: Path, artifact: Path, layer: Path) -> Start:
    out = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", _CHILD, str(artifact), str(layer)],
        env=_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold start of {artifact.name} failed:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    extra = [p for p in found["path"][2:] if "site-packages" in p or p in ("", ".")]
    if extra:
        raise RuntimeError(f"sys.path holds more than the artifact, the layer and the stdlib: {extra}")
    return Start(found["seconds"], found["modules"])


def _precompiled_copy(build: Build, python: Path) -> Build:
    """A copy of the build with every module compiled, as a build step could ship it."""
    shutil.rmtree(PYC_COPY, ignore_errors=True)
    shutil.copytree(build.layer.parent.parent, PYC_COPY, symlinks=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(PYC_COPY),
        ],
        stdout=subprocess.DEVNULL,
        timeout=300,
        check=True,
    )
    return Build(
        artifacts={name: PYC_COPY / path.name for name, path in build.artifacts.items()},
        layer=PYC_COPY / build.layer.parent.name / build.layer.name,
        seconds=build.seconds,
        cached=build.cached,
    )


def _import_profile(python: Path, artifact: Path, layer: Path, *, runs: int) -> dict[str, float]:
    """Median self import time (ms) of each module over a few `-X importtime` runs."""
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        out = subprocess.run(
            [str(python), "-I", "-S", "-B", "-X", "importtime", "-c", _CHILD, str(artifact), str(layer)],
            env=_ENV,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        for line in out.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            own, _, name = line.removeprefix("import time:").split("|")
            if own.strip().isdigit():
                times[name.strip()].append(int(own) / 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def _matches(module: str, names: tuple[str, ...]) -> bool:
    return any(module == n or module.startswith(f"{n}.") for n in names)


def _packages(modules: list[str]) -> set[str]:
    """Third-party top-level packages (and imageapi) among the modules."""
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names and not t.startswith("_")} - {
        "app",
        "cython_runtime",
    }


def not_needed(function: str, modules: list[str]) -> list[str]:
    own = NEEDS.get(function, ())
    others = {n for f, names in NEEDS.items() if f != function for n in names} - set(own)
    never = [n for n in NEVER if n not in own]  # Pillow: needed by the thumbnail function alone
    found = {n for n in (*others, *never) if any(_matches(m, (n,)) for m in modules)}
    return sorted(found)


def measure(build: Build, results: Results, *, processes: int = PROCESSES) -> None:
    python = find_python312()
    precompiled = _precompiled_copy(build, python)
    targets = [*(n for n in build.artifacts if n not in (HELLO, MONOLITH)), MONOLITH, HELLO]
    modes = {AS_BUILT: build, PRECOMPILED: precompiled}
    shipped = sum(1 for _ in build.layer.rglob("*.pyc"))
    labels = {
        AS_BUILT: f"sam build output ({shipped} .pyc)" if shipped else "sam build output (no .pyc)",
        PRECOMPILED: "precompiled (compileall unchecked-hash)",
    }
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    modules: dict[str, list[str]] = {}
    for _ in range(processes):
        for mode, tree in modes.items():
            for name in targets:
                start = _run(python, tree.artifacts[name], tree.layer)
                times[mode, name].append(start.seconds * 1000)
                modules[name] = start.modules
    for mode in modes:
        hello = Stats.of(times[mode, HELLO])
        for name in targets[:-1]:
            results.add(
                Row(
                    SECTION,
                    f"{name} init, {labels[mode]}",
                    "ms",
                    Stats.of(times[mode, name]),
                    "hello",
                    hello,
                    (GOAL,) if name in METADATA else (),
                )
            )
    for name in METADATA:
        found = "loaded" if "botocore" in modules[name] else "not loaded"
        results.checks.append((f"{name} does not load botocore", found == "not loaded", found))
    profiles = {
        name: _import_profile(python, precompiled.artifacts[name], precompiled.layer, runs=PROFILE_RUNS)
        for name in targets
    }
    shutil.rmtree(PYC_COPY, ignore_errors=True)
    results.details["Cold start: what each function loads"] = _details(targets, modules, profiles, times)


def _details(
    targets: list[str],
    modules: dict[str, list[str]],
    profiles: dict[str, dict[str, float]],
    times: dict[tuple[str, str], list[float]],
) -> str:
    hello_modules = set(modules[HELLO])
    hello_packages = _packages(modules[HELLO])
    lines = [
        f"Hello loads {len(hello_modules)} modules: {', '.join(sorted(hello_packages))}.",
        "",
        "| Function | Modules | Packages beyond hello's | Loaded, not needed by its route | botocore loaded "
        "| Import time beyond hello (median of 3 `-X importtime` runs, precompiled) | Median vs monolith |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in targets[:-1]:
        loaded = modules[name]
        beyond = sorted(_packages(loaded) - hello_packages)
        extra_time: dict[str, float] = defaultdict(float)
        for module, ms in profiles[name].items():
            if module not in hello_modules:
                extra_time[module.split(".")[0]] += ms
        top = sorted(extra_time.items(), key=lambda kv: -kv[1])[:6]
        total = sum(extra_time.values())
        vs_monolith = " / ".join(
            f"{Stats.of(times[mode, name]).median / Stats.of(times[mode, MONOLITH]).median:.2f}"
            for mode in (AS_BUILT, PRECOMPILED)
        )
        unneeded = not_needed(name, loaded) if name != MONOLITH else []
        lines.append(
            f"| {name} | {len(loaded)} | {', '.join(beyond) or '—'} | {', '.join(unneeded) or 'none'} "
            f"| {'yes' if 'botocore' in loaded else 'no'} "
            f"| {fmt(total)} ms: {', '.join(f'{k} {fmt(v)}' for k, v in top)} | {vs_monolith} |"
        )
    lines += [
        "",
        " ".join(
            [
                "Median vs monolith: sam build output / precompiled. The monolith needs everything, so it",
                "has no unneeded list. Each init is timed inside the process, from before `import app` to",
                "`app.handler`; interpreter start-up is the same for all and left out.",
                f"{PROCESSES} processes per function and tree, interleaved, all with -B (read-only, as on",
                "Lambda). The precompiled tree is what `make build` ships: sam build's output, then",
                "`compileall --invalidation-mode unchecked-hash`.",
            ]
        ),
    ]
    return "\n".join(lines)


# 1b. A cold request: the time from process start to the first response, for a real v2 event
# against the real PostgreSQL and S3 (what a user waits for on a cold start, init included).
REQUEST_SECTION = "1 Cold request"
REQUEST_PROCESSES = 7
# The first request each function is measured with: its event (tests/events) and its status.
# A function without an entry (one added to template.yaml later, such as a thumbnail function)
# is listed under the table as not measured until it gets one here.
REQUESTS: dict[str, tuple[str, int]] = {
    "ListImagesFunction": ("list_images.v2", 200),
    "GetImageFunction": ("get_image.v2", 200),
    "DownloadImageFunction": ("download_image.v2", 200),
    "UploadImageFunction": ("upload_image.v2", 201),
    "CreateUploadFunction": ("create_upload.v2", 201),
}
REQUEST_GOALS = {
    "ListImagesFunction": Goal(1.15),
    "GetImageFunction": Goal(1.15),
    "DownloadImageFunction": Goal(1.3),
    "UploadImageFunction": Goal(1.3),
}
_REQUEST_CHILD = """
import sys, time
sys.path[:0] = sys.argv[1:3]
started = time.perf_counter()
import app
imported = time.perf_counter()
import json
class Context:
    aws_request_id = "cold-request"
    function_name = "cold"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold"
    def get_remaining_time_in_millis(self):
        return 20000
with open(sys.argv[3]) as f:
    event = json.load(f)
result = app.handler(event, Context())
done = time.monotonic()
print(json.dumps({"done": done, "init": imported - started, "request": time.perf_counter() - imported,
                  "status": result["statusCode"], "body": str(result.get("body"))[:300]}))
"""


@dataclass(frozen=True)
class FirstResponse:
    seconds: float  # process start to the response
    init: float  # `import app`
    request: float  # the first request, after init


def _first_response(
    python: Path, artifact: Path, layer: Path, event: Path, env: dict[str, str]
) -> tuple[FirstResponse, int, str]:
    started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
    out = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", _REQUEST_CHILD, str(artifact), str(layer), str(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cold request of {artifact.name} failed:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return (
        FirstResponse(found["done"] - started, found["init"], found["request"]),
        found["status"],
        found["body"],
    )


def measure_requests(build: Build, services: Services, results: Results, *, processes: int) -> None:
    """Every function with an event in REQUESTS and hello, each a fresh process per request, in
    turns, from the precompiled tree (what `make build` ships)."""
    from bench.warm import handlers, hello_event, upload_images

    python = find_python312()
    tree = _precompiled_copy(build, python)
    image_id = upload_images(handlers()["UploadImageFunction"], 1)[0]
    events_dir = services.workdir / "cold-events"
    events_dir.mkdir(exist_ok=True)
    cases: dict[str, tuple[Path, int]] = {}
    for name, (event_name, status) in {**REQUESTS, HELLO: ("hello", 200)}.items():
        if name not in tree.artifacts:
            continue
        event = hello_event() if name == HELLO else load_event(event_name, image_id=image_id)
        path = events_dir / f"{name}.json"
        path.write_text(json.dumps(event))
        cases[name] = (path, status)
    env = {**services.env, "LANG": "C.UTF-8", "LOG_LEVEL": "WARNING"}
    times: dict[str, list[FirstResponse]] = defaultdict(list)
    for _ in range(processes):
        for name, (path, status) in cases.items():
            first, got, body = _first_response(python, tree.artifacts[name], tree.layer, path, env)
            if got != status:
                raise RuntimeError(f"{name}'s first request answered {got}, not {status}: {body}")
            times[name].append(first)
    shutil.rmtree(PYC_COPY, ignore_errors=True)
    hello = Stats.of([t.seconds * 1000 for t in times[HELLO]])
    for name in cases:
        if name == HELLO:
            continue
        goal = REQUEST_GOALS.get(name)
        results.add(
            Row(
                REQUEST_SECTION,
                f"{name} process start to first response, v2 event",
                "ms",
                Stats.of([t.seconds * 1000 for t in times[name]]),
                "hello's first response",
                hello,
                (goal,) if goal else (),
            )
        )
    unmeasured = sorted(set(tree.artifacts) - set(cases) - {MONOLITH})
    lines = [
        "| Function | Process start to first response | of which `import app` | of which the first request |",
        "|---|---|---|---|",
    ]
    for name in cases:
        total, init, request = (fmt(_median_ms(times[name], part)) for part in ("seconds", "init", "request"))
        lines.append(f"| {name} | {total} ms | {init} ms | {request} ms |")
    lines += [
        "",
        " ".join(
            [
                f"Medians of {processes} fresh `python -I -S -B` processes per function, taking turns, on",
                "the precompiled tree, with sys.path as on Lambda. The clock starts in the bench before the",
                "process is spawned and stops in it when the handler has returned its response",
                "(CLOCK_MONOTONIC, one clock for both), so interpreter start-up is included, as is",
                "everything the first request pays once: the PostgreSQL connection, the S3 client,",
                "FastAPI's first call. The events are",
                "tests/events/*.v2.json (get and download ask for an image uploaded before).",
                f"Not measured (no event in bench/cold.py REQUESTS): {', '.join(unmeasured) or 'none'}.",
            ]
        ),
    ]
    results.details["Cold request: where the time goes"] = "\n".join(lines)


def _median_ms(values: list[FirstResponse], attribute: str) -> float:
    return statistics.median(getattr(v, attribute) for v in values) * 1000
