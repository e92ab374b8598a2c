"""`sam build` of template.yaml, cached on its inputs, and built functions run in isolation."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from local.routes import read_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_BIN = ROOT / ".tools" / "sam" / "bin"
# Under the git-ignored .aws-sam/, apart from `make build`'s: sam build keeps its dependency
# cache in .aws-sam/deps of its working directory and prunes what its own last build did not use.
WORK = ROOT / ".aws-sam" / "test"
RUNNER = Path(__file__).with_name("lambda_runner.py")
COMPLETE = ".complete"  # written once `sam build` succeeded
BUILD_INPUTS = ("template.yaml", "functions", "layers/common", "requirements-sam.txt")


def python312_dir() -> Path:
    """The folder whose python3.12 `sam build` runs pip with: the real interpreter behind this
    venv (as the Makefile's PYTHON), else the venv's own bin."""
    for executable in (Path(sys.executable).resolve(), Path(sys.executable)):
        if (executable.parent / "python3.12").is_file():
            return executable.parent
    raise RuntimeError(f"no python3.12 next to {sys.executable}")


def sam(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs SAM CLI's venv tool args[0] (sam, cfn-lint) offline, without the project's PYTHONPATH."""
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    full_env = {
        **base,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PATH": f"{python312_dir()}{os.pathsep}{base.get('PATH', '')}",
        **(env or {}),
    }
    tool, *rest = args
    return subprocess.run(
        [str(SAM_BIN / tool), *rest], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900
    )


def inputs_digest() -> str:
    """What the build depends on: the template, the sources, the SAM CLI pin and the Python."""
    digest = hashlib.sha256(sys.version.encode())
    for name in BUILD_INPUTS:
        top = ROOT / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(f"{path.relative_to(ROOT)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Build:
    """A `sam build` output folder and its template, which maps each resource to its artifact."""

    root: Path

    @cached_property
    def template(self) -> dict[str, Any]:
        return read_template(self.root / "template.yaml")

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}

    def artifact(self, function: str) -> Path:
        return self.root / self.template["Resources"][function]["Properties"]["CodeUri"]

    @property
    def layer(self) -> Path:
        """The folder Lambda mounts as /opt/python."""
        [layer] = self.resources("AWS::Serverless::LayerVersion").values()
        return self.root / layer["Properties"]["ContentUri"] / "python"


def ensure_build() -> Build:
    """The build of the current inputs, running `sam build` unless one exists already.

    Each input digest gets its own folder, never changed once complete, and a lock serialises
    builds: sessions running side by side on one checkout never see a half-built artifact."""
    digest = inputs_digest()
    builds = WORK / "builds"
    build = Build(builds / digest[:16])
    builds.mkdir(parents=True, exist_ok=True)
    with (WORK / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (build.root / COMPLETE).exists():
            shutil.rmtree(build.root, ignore_errors=True)
            command = ["build", "--template", str(TEMPLATE), "--build-dir", str(build.root), "--cached"]
            result = sam("sam", *command, cwd=WORK)
            assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
            (build.root / COMPLETE).write_text(digest)
            _prune(builds, keep=3)
    return build


def _prune(builds: Path, *, keep: int) -> None:
    done = sorted((p for p in builds.iterdir() if (p / COMPLETE).exists()), key=lambda p: p.stat().st_mtime)
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def invoke_isolated(
    build: Build,
    function: str,
    events: list[dict[str, Any]],
    *,
    env: dict[str, str],
    workdir: Path,
) -> dict[str, Any]:
    """Invokes a built function with each event in a fresh `python -I -S` process whose sys.path is
    its artifact, the layer and the standard library; returns lambda_runner's report."""
    events_file, report_file = workdir / f"{function}.events.json", workdir / f"{function}.report.json"
    events_file.write_text(json.dumps(events))
    handler = build.template["Resources"][function]["Properties"]["Handler"]
    artifact = build.artifact(function)
    command = [
        str(Path(sys.executable).resolve()),  # the real interpreter, not the venv
        "-I",
        "-S",
        "-X",
        f"pycache_prefix={WORK / 'pycache'}",  # compiled files go there, never into the artifacts
        str(RUNNER),
        str(artifact),
        str(build.layer),
        handler,
        str(events_file),
        str(report_file),
    ]
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": function, "LAMBDA_TASK_ROOT": str(artifact), **env}
    result = subprocess.run(command, env=lambda_env, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{function} failed in isolation:\n{result.stderr}"
    report: dict[str, Any] = json.loads(report_file.read_text())
    return report
