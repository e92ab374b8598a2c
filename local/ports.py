"""The dev server's and the gateway's port, checked before they start anything."""

from __future__ import annotations

import errno
import socket


def refuse_taken_port(host: str, port: int, *, command: str) -> None:
    """Exits with one line naming another port when host:port cannot be bound, so that a taken
    port is found before PostgreSQL and S3 start, not after the banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(
                    f"Port {port} on {host} is not free: use another port, e.g. DEV_PORT={port + 1} {command}"
                ) from None
            # an address this machine does not have, a privileged port, ...
            raise SystemExit(
                f"Cannot listen on {host}:{port} ({exc.strerror}): check DEV_HOST and DEV_PORT"
                f" (e.g. DEV_PORT=8001 {command})"
            ) from None
