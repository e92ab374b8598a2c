"""Why the layer writes its own logging and metrics: the import cost Powertools for AWS Lambda
would add to every cold start, against the layer's own modules, in the same run.

Each import runs in a fresh interpreter (7 times, median), in a venv of its own with the pinned
Powertools release and the X-Ray SDK its Tracer needs; the layer's modules import from the tree.

    python -m bench.powertools        (needs PyPI; takes about a minute)"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from local.routes import ROOT

PACKAGES = ("aws-lambda-powertools==3.37.0", "aws-xray-sdk==2.15.0")
RUNS = 7
IMPORTS = {
    "the layer's logs and metrics (imageapi.core.logs, imageapi.core.metrics)": (
        "import imageapi.core.logs, imageapi.core.metrics"
    ),
    "Powertools Logger and Metrics": "from aws_lambda_powertools import Logger, Metrics",
    "Powertools Logger, Metrics and Tracer": (
        "from aws_lambda_powertools import Logger, Metrics, Tracer; Tracer(service='bench', disabled=True)"
    ),
}


def _seconds(python: Path, statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {"PYTHONPATH": str(ROOT / "layers" / "common"), "POWERTOOLS_SERVICE_NAME": "bench"}
    done = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        venv = Path(scratch) / "venv"
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        python = venv / "bin" / "python"
        subprocess.run([python, "-m", "pip", "install", "-q", *PACKAGES], check=True)
        medians = {
            name: statistics.median(_seconds(python, s) for _ in range(RUNS)) for name, s in IMPORTS.items()
        }
    baseline = next(iter(medians.values()))
    print(f"import time, median of {RUNS} fresh interpreters ({sys.version.split()[0]})")
    for name, seconds in medians.items():
        print(f"  {seconds * 1000:7.1f} ms  {seconds / baseline:5.1f}x  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
