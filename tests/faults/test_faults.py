"""Faults injected for real: an S3 server stopped or cutting connections part-way, PostgreSQL
refusing connections or killing them, a client going away, a process crashing mid-upload.
Nothing acknowledged is lost and nothing half-written stays behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from imageapi.store.storage import PART_BYTES
from local.apigw import HttpResponse
from local.invokers import call_handler
from local.services import ensure_bucket, moto_s3, s3_client
from tests.conftest import Stores
from tests.support.api import Api, json_of
from tests.support.faults import cutting_proxy, database_proxy
from tests.support.images import make_image
from tests.support.layer import reset_layer_caches
from tests.support.multipart import upload_body
from tests.support.targets import EventTarget, Target

ROOT = Path(__file__).resolve().parents[2]


def use(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Points the running code (dev server thread and handlers alike) at other settings."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_layer_caches()


@pytest.fixture(autouse=True)
def restore_caches() -> Iterator[None]:
    yield
    reset_layer_caches()


@pytest.fixture
def api(target: Target, stores: Stores) -> Api:
    return Api(target)


def assert_unavailable(response: HttpResponse, what: str) -> None:
    assert response.status == 503, response.body
    assert response.header("retry-after") == "5"
    assert what in json_of(response)["detail"]


@contextmanager
def own_s3_server(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The code uses an S3 server of this test's own, stopped for real when the block ends:
    its port refuses connections from then on."""
    with moto_s3() as endpoint:
        ensure_bucket(s3_client(endpoint), services["S3_BUCKET"])
        use(monkeypatch, S3_ENDPOINT_URL=endpoint)
        yield


def test_s3_down_during_upload_is_503_and_stores_no_row(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with own_s3_server(services, monkeypatch):
        pass
    response = api.upload(make_image("PNG"))
    assert_unavailable(response, "object storage is unavailable")
    assert stores.rows() == []


def test_s3_down_during_download_is_503(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with own_s3_server(services, monkeypatch):
        image = api.upload_ok(make_image("PNG"))
        assert api.download(image["id"]).status == 200
    response = api.download(image["id"])
    assert_unavailable(response, "object storage is unavailable")
    assert json_of(api.get(image["id"]))["id"] == image["id"]  # metadata needs no S3


@pytest.mark.parametrize("size", ["single", "multipart"])
def test_s3_failing_part_way_leaves_nothing(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    # 20 MiB crosses the 16 MiB multipart threshold: parts fail, the upload is aborted.
    if size == "multipart" and api.target.name == "gateway":
        pytest.skip("a 20 MiB body is over Lambda's payload limit: the gateway answers 413 first")
    data = make_image("PNG", (600, 400) if size == "single" else (2600, 2700), noise=True)
    with cutting_proxy(services["S3_ENDPOINT_URL"]) as proxy:
        use(monkeypatch, S3_ENDPOINT_URL=proxy.url, MAX_UPLOAD_BYTES=str(32 * 1024 * 1024))
        proxy.cut_after = 256 * 1024  # small requests (abort, delete) still pass
        response = api.upload(data)
        assert proxy.cuts > 0
    assert_unavailable(response, "object storage is unavailable")
    stores.assert_empty()


@contextmanager
def database_refusing(services: dict[str, str]) -> Iterator[None]:
    """PostgreSQL refuses new connections to the test database and drops the open ones."""
    name = psycopg.conninfo.conninfo_to_dict(services["DATABASE_URL"])["dbname"]
    admin_url = psycopg.conninfo.make_conninfo(services["DATABASE_URL"], dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def note_objects_written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from imageapi.store.storage import StreamingUpload

    written: list[str] = []
    commit = StreamingUpload.commit

    def commit_and_note(self: StreamingUpload) -> None:
        commit(self)
        written.append(self.key)

    monkeypatch.setattr(StreamingUpload, "commit", commit_and_note)
    return written


def test_database_down_during_upload_is_503_and_removes_the_object(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_layer_caches()  # no open connection: the INSERT cannot have been sent anywhere
    written = note_objects_written(monkeypatch)
    with database_refusing(services):
        response = api.upload(make_image("PNG"))
    assert_unavailable(response, "database is unavailable")
    assert len(written) == 1  # the object was written...
    stores.assert_empty()  # ...and removed; no row either


def test_database_lost_mid_insert_is_503_and_keeps_the_object_for_reconcile(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, DATABASE_OUTCOME_CHECK_SECONDS="1")
    api.upload_ok(make_image("PNG"))  # a warm connection, which is about to be killed
    stores.clear()
    written = note_objects_written(monkeypatch)
    with database_refusing(services):
        response = api.upload(make_image("PNG"))
    assert_unavailable(response, "database is unavailable")
    # The INSERT went out on the killed connection and no fresh one could say whether it
    # committed: the object stays (an orphan for reconcile if the row never was), no row.
    assert stores.object_keys() == written and stores.rows() == []


def test_a_connection_killed_between_warm_invocations_does_not_matter(
    stores: Stores, services: dict[str, str]
) -> None:
    api = Api(EventTarget())
    image = api.upload_ok(make_image("PNG"))
    name = psycopg.conninfo.conninfo_to_dict(services["DATABASE_URL"])["dbname"]
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert api.get(image["id"]).status == 200  # no restart needed


@pytest.mark.parametrize("warm", [True, False], ids=["warm connection", "new connection"])
def test_a_database_that_stops_answering_gives_503(
    api: Api, stores: Stores, services: dict[str, str], monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    """The proxy stops forwarding without closing anything: without bounds the request would wait
    forever (its kernel still acknowledges what is sent). The request must come back with 503."""
    image = api.upload_ok(make_image("PNG"))
    with database_proxy(services["DATABASE_URL"]) as (proxy, through_proxy):
        bounds = {"DATABASE_OPERATION_TIMEOUT_MS": "1500", "DATABASE_CONNECT_TIMEOUT": "2"}
        use(monkeypatch, DATABASE_URL=through_proxy, **bounds)
        if warm:
            assert api.get(image["id"]).status == 200  # the connection now goes through the proxy
        proxy.stall()
        with ThreadPoolExecutor(max_workers=1) as pool:
            # A generous ceiling, only so that a regression fails here instead of hanging CI.
            get = pool.submit(call_handler, lambda _event, _context: api.get(image["id"]), None, None)
            response = get.result(timeout=120)  # call_handler: an event loop of the thread's own
    assert_unavailable(response, "database is unavailable")
    reset_layer_caches()
    monkeypatch.undo()
    reset_layer_caches()
    assert api.get(image["id"]).status == 200  # nothing was lost


@pytest.mark.parametrize("size", [(800, 800), (2600, 2700)], ids=["small", "past the first parts"])
def test_client_disconnecting_mid_upload_leaves_nothing(
    dev_server: str, stores: Stores, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    use(monkeypatch, MAX_UPLOAD_BYTES=str(32 * 1024 * 1024))
    body, content_type = upload_body(make_image("PNG", size, noise=True))
    host, port = dev_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"POST /api/v1/images/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
        if len(body) // 2 > PART_BYTES:  # a part is on its way to S3: hang up only once it is
            deadline = time.monotonic() + 20
            while not stores.unfinished_uploads() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert stores.unfinished_uploads(), "the server never started the multipart upload"
        else:
            time.sleep(0.5)
    deadline = time.monotonic() + 10  # the server notices the hang-up, then aborts what it sent
    while stores.unfinished_uploads() and time.monotonic() < deadline:
        time.sleep(0.1)
    stores.assert_empty()


CRASHING_UPLOAD = """
import os, sys, uuid
import imageapi.store.repository
from imageapi.store.db import get_database
from imageapi.http.forms import FilePart, UploadForm
from imageapi.core.settings import get_settings
from imageapi.store.storage import StreamingUpload, get_storage
from imageapi.routes.uploads import store_upload

def crash(*args, **kwargs):
    os._exit(17)  # the process dies between the object write and the row insert

imageapi.store.repository.insert_image = crash
image_id = uuid.uuid4()
part = FilePart(filename="a.png")
part.sink = StreamingUpload(get_storage(), key=f"images/{image_id}", content_type=lambda: "image/png")
part.add(open(sys.argv[1], "rb").read())
form = UploadForm(fields={"description": [b"crash"]}, files={"file": [part]})
store_upload(form, image_id=image_id, db=get_database(), settings=get_settings())
"""


def run_reconcile(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imageapi.store.reconcile", "--grace-minutes", "0", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_crash_between_object_and_row_leaves_an_orphan_that_reconcile_removes(
    stores: Stores, services: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, **services, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}:{ROOT}"}
    image = tmp_path / "a.png"
    image.write_bytes(make_image("PNG"))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_UPLOAD, str(image)], env=env, timeout=60, check=False
    )
    assert crashed.returncode == 17
    [orphan] = stores.object_keys()
    assert stores.rows() == []
    kept = Api(EventTarget()).upload_ok(make_image("GIF"))  # a healthy image alongside
    # and a row whose object is gone
    lost = uuid.uuid4()
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO images (id, object_key, description, filename, content_type, size_bytes, sha256,"
            " width, height) VALUES (%s, %s, 'lost', 'lost.png', 'image/png', 1, repeat('0', 64), 1, 1)",
            (lost, f"images/{lost}"),
        )

    dry = run_reconcile(env, "--max-share", "1")
    assert f'"{orphan}"' in dry.stdout and f'"images/{lost}"' in dry.stdout
    assert orphan in stores.object_keys() and len(stores.rows()) == 2  # a dry run deletes nothing

    run_reconcile(env, "--apply", "--max-share", "1")
    assert len(stores.object_keys()) == 1 and orphan not in stores.object_keys()
    assert len(stores.rows()) == 2  # rows are metadata: deleted only when asked
    run_reconcile(env, "--apply", "--delete-rows", "--max-share", "1")
    assert [str(r["id"]) for r in stores.rows()] == [kept["id"]]
