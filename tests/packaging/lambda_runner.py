"""Runs one built function the way Lambda does, in a process of its own.

Started as `python -I -S lambda_runner.py ARTIFACT LAYER HANDLER EVENTS OUT`: -I ignores PYTHON*
variables and the user's site directory, -S skips site-packages, so sys.path is nothing but the
standard library until this script puts the artifact (Lambda's /var/task) and the layer's
python/ folder (Lambda's /opt/python) in front. It imports the handler, invokes it with each
event in the JSON file EVENTS, and writes what happened to OUT. Standard library only."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path


class LambdaContext:
    function_name = "isolated"
    aws_request_id = "00000000-0000-4000-8000-00000000cafe"
    log_stream_name = "isolated"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main(argv: list[str]) -> int:
    artifact, layer, handler_path, events_file, out_file = argv[1:]
    stdlib = [p for p in sys.path if p]
    sys.path[:] = [artifact, layer, *stdlib]
    module_name, _, attribute = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    events = json.loads(Path(events_file).read_text())
    results = [handler(event, LambdaContext()) for event in events]
    roots = tuple(os.path.join(root, "") for root in (artifact, layer, *stdlib))
    files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    for alias in ("__main__", "__mp_main__"):  # this script (multiprocessing adds the second name)
        files.pop(alias, None)
    psycopg = sys.modules.get("psycopg")
    report = {
        "stdlib": stdlib,
        "sys_path": sys.path,
        "base_prefix": sys.base_prefix,
        "results": results,
        # every module came from the artifact, the layer or the standard library
        "outside": sorted(f"{n}: {f}" for n, f in files.items() if f and not f.startswith(roots)),
        "packages": sorted({name.partition(".")[0] for name in sys.modules}),
        "psycopg_impl": psycopg.pq.__impl__ if psycopg is not None else None,
    }
    Path(out_file).write_text(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
