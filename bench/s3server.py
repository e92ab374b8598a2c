"""`python -m bench.s3server`: moto's S3 server (local.services.moto_s3) in a process of its own,
so that its work never shares a GIL with what is measured. Prints its endpoint, then serves
until its stdin closes."""

from __future__ import annotations

import sys

from local.services import exit_on_sigterm, moto_s3


def main() -> int:
    exit_on_sigterm()
    with moto_s3() as endpoint:
        print(endpoint, flush=True)
        sys.stdin.read()  # returns when the parent closes the pipe or exits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
