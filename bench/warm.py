"""2. Warm invocation: each handler called in this process with its API Gateway v2 event
(tests/events/*.v2.json), against the real PostgreSQL and S3 servers, after a warm-up; next to
the hello handler and to the raw psycopg query or boto3 call the route makes, in the same run.
Targets take turns in rounds, so that drift on a noisy machine hits them all alike."""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench.build import HELLO, hello_route
from bench.report import Results, Row, Stats
from bench.services import BUCKET, Services
from local.routes import load_handler, load_routes
from tests.support.events import load_event
from tests.support.targets import LambdaContext

SECTION = "2 Warm invocation"
WARMUP = 20
ROUNDS = 4
PER_ROUND = 250  # 1,000 timed invocations of each target
SEED_IMAGES = 25  # a full first page (20) for the list route

COLUMNS = "id, object_key, description, filename, content_type, size_bytes, sha256, width, height, created_at"
GET_SQL = f"SELECT {COLUMNS} FROM images WHERE id = %s"
LIST_SQL = f"SELECT {COLUMNS}, commit_seq FROM images ORDER BY commit_seq DESC LIMIT %s"
INSERT_SQL = (
    "INSERT INTO images (id, object_key, description, filename, content_type, size_bytes, sha256,"
    " width, height) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    f" ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
)

Call = Callable[[], object]


def handlers() -> dict[str, Any]:
    """Every routed function's handler, and the hello baseline's, imported from their sources."""
    found = {route.function: load_handler(route) for route in load_routes()}
    found[HELLO] = load_handler(hello_route())
    return found


def hello_event() -> dict[str, Any]:
    event = copy.deepcopy(load_event("list_images.v2"))
    event.update(rawPath="/hello", routeKey="GET /hello")
    event["requestContext"].update(routeKey="GET /hello")
    event["requestContext"]["http"]["path"] = "/hello"
    return event


def fixture_png() -> bytes:
    """The PNG inside the upload event's multipart body."""
    body = base64.b64decode(load_event("upload_image.v2")["body"])
    start = body.index(b"\x89PNG")
    return body[start : body.index(b"\r\n--", start)]


def invoke(handler: Any, event: dict[str, Any], status: int) -> Call:
    context = LambdaContext()

    def call() -> object:
        result = handler(event, context)
        if result["statusCode"] != status:
            raise RuntimeError(f"expected {status}, got {result['statusCode']}: {result.get('body')}")
        return result

    return call


def upload_images(handler: Any, count: int) -> list[str]:
    """Uploads the event's image count times through the handler; returns the new ids."""
    call = invoke(handler, load_event("upload_image.v2"), 201)
    ids = []
    for _ in range(count):
        result: Any = call()
        ids.append(json.loads(result["body"])["id"])
    return ids


def timed(targets: dict[str, Call], *, warmup: int, rounds: int, per_round: int) -> dict[str, list[float]]:
    """Milliseconds per call of each target; the targets take turns, per_round calls at a time."""
    for call in targets.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in targets}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, call in targets.items():
            out = samples[name]
            for _ in range(per_round):
                started = clock()
                call()
                out.append((clock() - started) / 1e6)
    return samples


def measure(services: Services, results: Results, quick: bool) -> None:
    found = handlers()
    ids = upload_images(found["UploadImageFunction"], SEED_IMAGES)
    image_id = ids[-1]
    conn = psycopg.connect(services.database_url, autocommit=True)
    s3 = services.s3()
    key = conn.execute("SELECT object_key FROM images WHERE id = %s", (image_id,)).fetchone()[0]  # type: ignore[index]
    png = fixture_png()
    upload_event = load_event("upload_image.v2")

    def select_one() -> object:
        return conn.execute(GET_SQL, (image_id,)).fetchone()

    def select_page() -> object:
        return conn.execute(LIST_SQL, (21,)).fetchall()

    def get_object() -> object:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def put_and_insert() -> object:
        new_id = uuid.uuid4()
        new_key = f"images/{new_id}"
        s3.put_object(Bucket=BUCKET, Key=new_key, Body=png, ContentType="image/png")
        values = (new_id, new_key, "Sunset in Berlin", "sunset.png", "image/png", len(png), "0" * 64, 4, 3)
        return conn.execute(INSERT_SQL, values).fetchone()

    targets: dict[str, Call] = {
        "hello": invoke(found[HELLO], hello_event(), 200),
        "ListImagesFunction": invoke(found["ListImagesFunction"], load_event("list_images.v2"), 200),
        "raw: SELECT first page (LIMIT 21)": select_page,
        "GetImageFunction": invoke(
            found["GetImageFunction"], load_event("get_image.v2", image_id=image_id), 200
        ),
        "raw: SELECT by id": select_one,
        "DownloadImageFunction": invoke(
            found["DownloadImageFunction"], load_event("download_image.v2", image_id=image_id), 200
        ),
        "raw: get_object + read": get_object,
        "UploadImageFunction": invoke(found["UploadImageFunction"], upload_event, 201),
        "raw: put_object + INSERT": put_and_insert,
    }
    samples = timed(
        targets,
        warmup=10 if quick else WARMUP,
        rounds=2 if quick else ROUNDS,
        per_round=50 if quick else PER_ROUND,
    )
    conn.close()
    stats = {name: Stats.of(values, p99=True) for name, values in samples.items()}
    raw_of = {
        "ListImagesFunction": "raw: SELECT first page (LIMIT 21)",
        "GetImageFunction": "raw: SELECT by id",
        "DownloadImageFunction": "raw: get_object + read",
        "UploadImageFunction": "raw: put_object + INSERT",
    }
    for function, raw in raw_of.items():
        measure = f"{function} handler, v2 event"
        results.add(Row(SECTION, measure, "ms", stats[function], "hello handler", stats["hello"]))
        results.add(Row(SECTION, measure, "ms", stats[function], raw, stats[raw]))
    n = len(samples["hello"])
    results.details["Warm invocation: method"] = (
        f"Each target: {10 if quick else WARMUP} warm-up calls, then {n} timed calls in "
        f"{2 if quick else ROUNDS} rounds taken in turn with the other targets. The handlers are imported "
        "from their sources (the layer on sys.path, as the dev server does) with `LOG_LEVEL=WARNING`; "
        "Mangum buffers every response. Raw baselines use one autocommit psycopg connection and one "
        "boto3 client of their own; the upload's is one `put_object` of the same 4x3 PNG and the "
        "INSERT of its row. Each cell: median (min-max), p99. moto's S3 server closes the "
        "connection after every response (HTTP/1.0), so every S3 call here, raw or not, pays a TCP "
        "connect."
    )
