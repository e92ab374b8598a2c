"""`python -m bench.s3server [moto|rclone]`: an S3 server in a process of its own, so that its
work never shares a GIL with what is measured: moto's (local.services.moto_s3, in memory) or
rclone's over a temporary folder (local.services.rclone_s3, the store of `make dev`). Prints
"endpoint access-key secret-key", then serves until its stdin closes."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from local.services import S3_CREDENTIALS, exit_on_sigterm, moto_s3, rclone_s3


def main() -> int:
    exit_on_sigterm()
    store = sys.argv[1] if len(sys.argv) > 1 else "moto"
    if store == "rclone":
        with (
            tempfile.TemporaryDirectory(prefix="imageapi-bench-s3-") as root,
            rclone_s3(Path(root)) as endpoint,
        ):
            print(endpoint.url, endpoint.access_key, endpoint.secret_key, flush=True)
            sys.stdin.read()  # returns when the parent closes the pipe or exits
        return 0
    with moto_s3() as url:
        print(url, S3_CREDENTIALS["aws_access_key_id"], S3_CREDENTIALS["aws_secret_access_key"], flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
