"""`sam build` of the functions as deployed, plus the two baselines, into a build dir of the bench's own.

The template is generated from template.yaml (the layer's ContentUri and build metadata, every
routed function's CodeUri and handler) with two more functions: the hello baseline and the
monolith. Everything is built the same way, against the same layer."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.routes import ROOT, FunctionRoute, load_routes, read_template

# Everything of the bench's own build lives here: sam writes build.toml next to the build dir and
# keeps dependencies in .aws-sam/deps under its working directory (and prunes what it does not
# know there), so running it from this directory keeps `make build`'s .aws-sam/ untouched.
WORK_DIR = ROOT / ".aws-sam" / "bench"
BUILD_DIR = WORK_DIR / "build"
CACHE_DIR = WORK_DIR / "cache"
TEMPLATE = WORK_DIR / "template.json"
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
LAYER = "CommonLayer"
HELLO = "HelloFunction"
MONOLITH = "MonolithFunction"
BASELINES = {HELLO: "bench/functions/hello/", MONOLITH: "bench/functions/monolith/"}


@dataclass(frozen=True)
class Build:
    artifacts: dict[str, Path]  # function logical id -> its artifact directory
    layer: Path  # the layer's python/ directory, as Lambda mounts it under /opt/python
    seconds: float
    cached: bool


def bench_template() -> dict[str, Any]:
    source = read_template()
    layer = source["Resources"][LAYER]
    function_globals = source.get("Globals", {}).get("Function", {})
    resources: dict[str, Any] = {
        LAYER: {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "ContentUri": layer["Properties"]["ContentUri"],
                "CompatibleRuntimes": layer["Properties"]["CompatibleRuntimes"],
            },
            "Metadata": layer["Metadata"],
        }
    }
    code_uris = {route.function: str(route.code_dir.relative_to(ROOT)) + "/" for route in load_routes()}
    handlers = {route.function: route.handler for route in load_routes()}
    for name, code_uri in {**code_uris, **BASELINES}.items():
        resources[name] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": code_uri,
                "Handler": handlers.get(name, "app.handler"),
                "Layers": [{"Ref": LAYER}],
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {
            "Function": {
                "Runtime": function_globals["Runtime"],
                "Architectures": function_globals["Architectures"],
            }
        },
        "Resources": resources,
    }


def hello_route() -> FunctionRoute:
    """The hello baseline as a route, for loading its handler from source."""
    return FunctionRoute(
        function=HELLO,
        method="GET",
        path="/hello",
        code_dir=ROOT / BASELINES[HELLO],
        handler="app.handler",
        timeout=3,
        memory=128,
    )


def find_python312() -> Path:
    """A python3.12 for `sam build` to find on PATH, looked for as the Makefile does."""
    candidates = [
        Path(sys._base_executable).parent / "python3.12",  # type: ignore[attr-defined]
        *(Path(p) for p in filter(None, [shutil.which("python3.12")])),
        *(Path(p) for p in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))),
        Path("/usr/bin/python3.12"),
    ]
    for candidate in candidates:
        if candidate.is_file() and ".venv" not in candidate.parts:
            return candidate
    raise RuntimeError("sam build needs python3.12 on PATH (set PATH or PYTHON)")


def sam_build() -> Build:
    """Builds (reusing the cache when the sources did not change) and returns where things are."""
    if not SAM.exists():
        raise RuntimeError(f"{SAM} is missing: run `make sam` (or `make bench`, which does)")
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    template = bench_template()
    TEMPLATE.write_text(json.dumps(template, indent=2))
    cached = CACHE_DIR.exists()
    python = find_python312()
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["SAM_CLI_TELEMETRY"] = "0"
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(SAM),
            "build",
            "--template",
            str(TEMPLATE),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(BUILD_DIR),
            "--cache-dir",
            str(CACHE_DIR),
            "--cached",
        ],
        cwd=WORK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    functions = [name for name, r in template["Resources"].items() if r["Type"].endswith("Function")]
    return Build(
        artifacts={name: BUILD_DIR / name for name in functions},
        layer=BUILD_DIR / LAYER / "python",
        seconds=seconds,
        cached=cached,
    )
