"""What `sam build` produces: each function's artifact holds only its own code, the layer holds
the package and Linux wheels for the template's architecture, and each built function answers
API Gateway v2 events in a process that sees nothing but its artifact, the layer and the
standard library, against the real PostgreSQL and S3 of the test session."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from local.routes import read_template
from tests.conftest import Stores
from tests.packaging.support import ROOT, Build, invoke_isolated
from tests.support.events import body_bytes, header, load_event

API_FUNCTIONS = (
    "ListImagesFunction",
    "GetImageFunction",
    "UpdateImageFunction",
    "UploadImageFunction",
    "DownloadImageFunction",
    "CreateUploadFunction",
    "CompleteUploadFunction",
    "ThumbnailFunction",
    "DeleteImageFunction",
    "GalleryFunction",
)
S3_FUNCTIONS = {
    "UploadImageFunction",
    "DownloadImageFunction",
    "CreateUploadFunction",
    "CompleteUploadFunction",
    "ThumbnailFunction",
    "DeleteImageFunction",
}
# What a function's own requirements.txt adds to its artifact, beside its code (top-level names).
OWN_DEPENDENCIES = {"ThumbnailFunction": ("PIL", "pillow", "pillow_heif", "_pillow_heif")}
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}  # template architecture -> wheel platform


def files_under(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def installed_requirements(shipped: set[str], packages: tuple[str, ...]) -> set[str]:
    """The shipped files that belong to these packages: their modules, .libs and dist-info."""
    prefixes = tuple(p.lower() for p in packages)
    return {p for p in shipped if prefixes and p.split("/")[0].split("-")[0].lower().startswith(prefixes)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def uploaded_png() -> bytes:
    body = base64.b64decode(load_event("upload_image.v2")["body"])
    start = body.index(b"\x89PNG")
    return body[start : body.index(b"\r\n--", start)]


@pytest.fixture(scope="module")
def round_trip(
    build: Build, services: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Upload in one isolated process, then get, list and download the new id in one each."""
    Stores(services).clear()
    workdir = tmp_path_factory.mktemp("isolated")
    reports = {
        "UploadImageFunction": invoke_isolated(
            build, "UploadImageFunction", [load_event("upload_image.v2")], env=services, workdir=workdir
        )
    }
    upload = reports["UploadImageFunction"]["results"][0]
    assert upload["statusCode"] == 201, upload
    image_id = json.loads(body_bytes(upload))["id"]
    events = {
        "GetImageFunction": load_event("get_image.v2", image_id=image_id),
        "ListImagesFunction": load_event("list_images.v2"),
        "DownloadImageFunction": load_event("download_image.v2", image_id=image_id),
        "ThumbnailFunction": load_event("thumbnail.v2", image_id=image_id, query={"size": "128"}),
        "GalleryFunction": load_event("gallery.v2"),
        "UpdateImageFunction": load_event("update_image.v2", image_id=image_id),  # after the GET
    }
    for function, event in events.items():
        reports[function] = invoke_isolated(build, function, [event], env=services, workdir=workdir)
    # The same PNG through an upload session: created in one process, PUT, completed in another.
    created = invoke_isolated(
        build, "CreateUploadFunction", [load_event("create_upload.v2")], env=services, workdir=workdir
    )
    session = json.loads(body_bytes(created["results"][0]))
    upload = session["upload"]
    sent = {k: v for k, v in upload["headers"].items() if k != "Content-Length"}
    assert httpx.put(upload["url"], headers=sent, content=uploaded_png()).status_code == 200
    reports["CreateUploadFunction"] = created
    reports["CompleteUploadFunction"] = invoke_isolated(
        build,
        "CompleteUploadFunction",
        [load_event("complete_upload.v2", image_id=session["upload_id"])],
        env=services,
        workdir=workdir,
    )
    # last: it removes what the others read
    delete = load_event("delete_image.v2", image_id=image_id)
    reports["DeleteImageFunction"] = invoke_isolated(
        build, "DeleteImageFunction", [delete, delete], env=services, workdir=workdir
    )
    return reports


def test_each_artifact_holds_only_its_own_function(build: Build) -> None:
    sources = {
        name: ROOT / resource["Properties"]["CodeUri"]
        for name, resource in read_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(build.resources("AWS::Serverless::Function")) == set(sources)
    for name, source in sources.items():
        artifact = build.artifact(name)
        shipped = files_under(artifact)
        dependencies = installed_requirements(shipped, OWN_DEPENDENCIES.get(name, ()))
        assert (source / "requirements.txt").is_file() == (name in OWN_DEPENDENCIES), name
        if name in OWN_DEPENDENCIES:
            assert dependencies, f"{name}: its requirements were not installed"
        assert shipped - dependencies == files_under(source), name  # no other function, no tests, no layer
        assert not {"tests", "functions", "local", "imageapi"} & {p.split("/")[0] for p in shipped}
        others = {digest(f) for other in sources.values() if other != source for f in other.rglob("*.py")}
        assert not others & {digest(artifact / p) for p in shipped}, name


def test_layer_holds_the_package_and_linux_wheels_for_the_architecture(build: Build) -> None:
    layer = build.layer
    assert (layer / "imageapi" / "__init__.py").is_file()
    assert sorted(p.name for p in (layer / "imageapi" / "store" / "migrations").glob("*.sql"))
    assert not {"tests", "functions", "local"} & {p.name for p in layer.iterdir()}
    [architecture] = build.template["Globals"]["Function"]["Architectures"]
    for wheel in ("psycopg_binary", "pydantic_core"):  # compiled: built for one platform
        [info] = layer.glob(f"{wheel}-*.dist-info")
        tags = [
            line.split(": ")[1]
            for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")
        ]
        assert tags and all("manylinux" in t and t.endswith(MACHINES[architecture]) for t in tags), tags


def test_built_functions_answer_v2_events_against_real_services(round_trip: dict[str, Any]) -> None:
    upload = round_trip["UploadImageFunction"]["results"][0]
    image = json.loads(body_bytes(upload))
    png = uploaded_png()
    assert (image["size_bytes"], image["sha256"]) == (len(png), hashlib.sha256(png).hexdigest())

    [got] = round_trip["GetImageFunction"]["results"]
    assert got["statusCode"] == 200 and json.loads(body_bytes(got)) == image

    [listed] = round_trip["ListImagesFunction"]["results"]
    assert listed["statusCode"] == 200
    assert [i["id"] for i in json.loads(body_bytes(listed))["items"]] == [image["id"]]

    [updated] = round_trip["UpdateImageFunction"]["results"]
    assert updated["statusCode"] == 200, updated
    assert json.loads(body_bytes(updated)) == {**image, "description": "Sunset over the Spree"}

    [thumbnail] = round_trip["ThumbnailFunction"]["results"]
    assert thumbnail["statusCode"] == 200 and body_bytes(thumbnail)[8:12] == b"WEBP"

    [gallery] = round_trip["GalleryFunction"]["results"]
    assert gallery["statusCode"] == 200 and "<title>Image gallery</title>" in gallery["body"]

    deleted, again = round_trip["DeleteImageFunction"]["results"]
    assert (deleted["statusCode"], again["statusCode"]) == (204, 404)

    [downloaded] = round_trip["DownloadImageFunction"]["results"]
    assert downloaded["statusCode"] == 200 and downloaded["isBase64Encoded"] is True
    data = body_bytes(downloaded)
    assert data == png and hashlib.sha256(data).hexdigest() == image["sha256"]
    assert header(downloaded, "content-type") == "image/png"

    [created] = round_trip["CreateUploadFunction"]["results"]
    assert created["statusCode"] == 201
    [completed] = round_trip["CompleteUploadFunction"]["results"]
    assert completed["statusCode"] == 201, completed
    published = json.loads(body_bytes(completed))
    assert (published["size_bytes"], published["sha256"]) == (image["size_bytes"], image["sha256"])
    assert published["id"] != image["id"]


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_isolated_process_saw_only_artifact_layer_and_stdlib(
    function: str, round_trip: dict[str, Any], build: Build
) -> None:
    report = round_trip[function]
    assert report["sys_path"] == [str(build.artifact(function)), str(build.layer), *report["stdlib"]]
    assert report["stdlib"] and all(p.startswith(report["base_prefix"]) for p in report["stdlib"])
    assert not any("site-packages" in p or "dist-packages" in p for p in report["sys_path"])
    assert report["outside"] == []
    if function != "GalleryFunction":  # the one that never opens the database
        assert report["psycopg_impl"] == "binary"  # Lambda has no libpq of its own to fall back on


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_only_the_file_routes_import_botocore(function: str, round_trip: dict[str, Any]) -> None:
    loaded = set(round_trip[function]["packages"])
    assert "fastapi" in loaded
    assert ("psycopg" in loaded) == (function != "GalleryFunction")  # the page needs no database
    assert "pydantic_settings" not in loaded  # settings are a plain model: no import at cold start
    if function in S3_FUNCTIONS:
        assert "botocore" in loaded and "boto3" not in loaded  # botocore directly: boto3 adds nothing
    else:
        assert not {"boto3", "botocore", "s3transfer"} & loaded
    assert ("PIL" in loaded) == (function == "ThumbnailFunction")  # only it decodes images


def test_migrate_and_reconcile_run_in_isolation(
    build: Build, services: dict[str, str], stores: Stores, tmp_path: Path
) -> None:
    migrate = invoke_isolated(build, "MigrateFunction", [{}], env=services, workdir=tmp_path)
    assert migrate["results"] == [{"applied": []}]  # the session already migrated this database
    key = f"images/{uuid.uuid4()}"
    with psycopg.connect(services["DATABASE_URL"], autocommit=True) as conn:  # a row whose object is gone
        conn.execute(  # an hour old: past the grace that protects uploads in flight
            "INSERT INTO images (id, object_key, description, filename, content_type, size_bytes, sha256,"
            " width, height, created_at) VALUES (%s, %s, 'lost', 'lost.png', 'image/png', 1, %s, 1, 1,"
            " now() - interval '1 hour')",
            (key.removeprefix("images/"), key, "0" * 64),
        )
    reconcile = invoke_isolated(
        build, "ReconcileFunction", [{"apply": False}, {"apply": True}], env=services, workdir=tmp_path
    )
    dry_run, scheduled = reconcile["results"]
    assert dry_run["rows_without_objects"] == [key] and dry_run["applied"] is False
    # An empty bucket beside a row looks like a wrong bucket: the scheduled run deletes nothing.
    assert "listing is empty" in scheduled["stopped"] and scheduled["deleted_rows"] == 0
    assert len(stores.rows()) == 1
