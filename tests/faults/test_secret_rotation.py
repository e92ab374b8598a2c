"""A rotated database password: the secret (RDS's JSON shape) lives in Secrets Manager (moto's
server), the role in a real PostgreSQL that checks passwords. After ALTER ROLE and a new secret
version, a warm function fetches the secret again on the refused login and carries on; it does
so at most once per DATABASE_SECRET_REFRESH_SECONDS."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import imageapi.store.db
from imageapi.store.migrate import apply_migrations
from local.services import embedded_postgres, moto_s3
from tests.conftest import Stores
from tests.support.api import Api
from tests.support.images import make_image
from tests.support.layer import layer_env
from tests.support.targets import EventTarget

ROLE = "rotating"


@dataclass
class PasswordServer:
    admin_url: str
    host: str
    port: int


def _refuses(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return "authentication failed" in str(exc)
    return False


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    """A PostgreSQL of this module's own: the shared test server trusts every login, so a
    password change would go unnoticed there."""
    with embedded_postgres(Path(tempfile.mkdtemp(prefix="imageapi-rotate-")) / "data", keep=False) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'first-password'")
            admin.execute(f"CREATE DATABASE images OWNER {ROLE}")
            hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
            rules = f"local all {ROLE} scram-sha-256\nhost all {ROLE} 127.0.0.1/32 scram-sha-256\n"
            hba.write_text(rules + hba.read_text())
            admin.execute("SELECT pg_reload_conf()")
        params = conninfo_to_dict(url)
        server = PasswordServer(url, str(params["host"]), int(params.get("port") or 5432))
        wrong = make_conninfo(url, user=ROLE, password="not-the-password", dbname="images")
        deadline = time.monotonic() + 60
        while not _refuses(wrong):  # the reload applies asynchronously
            assert time.monotonic() < deadline, "pg_hba.conf was not reloaded"
            time.sleep(0.1)
        own = make_conninfo(url, user=ROLE, password="first-password", dbname="images")
        with psycopg.connect(own, autocommit=True) as conn:
            apply_migrations(conn)
        yield server


@pytest.fixture(scope="module")
def secrets_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:  # moto's server answers every service, Secrets Manager included
        yield endpoint


@dataclass
class Rotation:
    server: PasswordServer
    client: Any
    arn: str
    fetches: list[str]

    def secret(self, password: str) -> str:
        return json.dumps(
            {
                "engine": "postgres",
                "host": self.server.host,
                "port": self.server.port,
                "username": ROLE,
                "password": password,
                "dbname": "images",
            }
        )

    def change_password(self, password: str, *, update_secret: bool) -> None:
        """ALTER ROLE, then the connections the role had are dropped (a frozen function's socket
        does not survive long anyway); with update_secret, the secret gets a new version too."""
        with psycopg.connect(self.server.admin_url, autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (ROLE,)
            )
        if update_secret:
            self.client.put_secret_value(SecretId=self.arn, SecretString=self.secret(password))


@pytest.fixture
def rotation(
    password_server: PasswordServer, secrets_endpoint: str, monkeypatch: pytest.MonkeyPatch, stores: Stores
) -> Iterator[Rotation]:
    aws = {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": secrets_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local-secret",
    }
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("secretsmanager", endpoint_url=secrets_endpoint)
    with psycopg.connect(password_server.admin_url, autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {ROLE} PASSWORD 'first-password'")
    found = Rotation(password_server, client, "", [])
    found.arn = client.create_secret(
        Name=f"imageapi/{time.monotonic_ns()}", SecretString=found.secret("first-password")
    )["ARN"]
    fetch = imageapi.store.db._conninfo_from_secret

    def counted(arn: str) -> str:  # the real fetch, counted
        found.fetches.append(arn)
        return fetch(arn)

    monkeypatch.setattr(imageapi.store.db, "_conninfo_from_secret", counted)
    with layer_env(
        monkeypatch, DATABASE_URL=None, DATABASE_SECRET_ARN=found.arn, DATABASE_SECRET_REFRESH_SECONDS="3600"
    ):
        yield found


def test_a_warm_function_survives_a_password_rotation(rotation: Rotation) -> None:
    api = Api(EventTarget())
    image = api.upload_ok(make_image("PNG"))
    assert len(rotation.fetches) == 1  # cold start

    rotation.change_password("second-password", update_secret=True)
    assert api.get(image["id"]).status == 200  # refused once, fetched again, reconnected
    assert len(rotation.fetches) == 2
    assert api.get(image["id"]).status == 200
    assert len(rotation.fetches) == 2  # a working connection fetches nothing


def test_refetching_is_rate_limited(rotation: Rotation) -> None:
    api = Api(EventTarget())
    image = api.upload_ok(make_image("PNG"))
    rotation.change_password("second-password", update_secret=True)
    assert api.get(image["id"]).status == 200
    assert len(rotation.fetches) == 2

    rotation.change_password("third-password", update_secret=False)  # the secret lags behind
    for _ in range(3):
        response = api.get(image["id"])
        assert response.status == 503
        assert response.header("retry-after") == "5"
    assert len(rotation.fetches) == 2  # within DATABASE_SECRET_REFRESH_SECONDS: not fetched again
