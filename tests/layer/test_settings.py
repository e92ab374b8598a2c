"""Every setting is documented in .env.example, and nothing there is stale."""

from __future__ import annotations

import re
from pathlib import Path

from imageapi.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = {"DEV_DATA_DIR", "DEV_HOST", "DEV_PORT"}


def documented() -> dict[str, str]:
    """NAME -> the comment above it (one comment may cover adjacent names)."""
    found: dict[str, str] = {}
    comment: list[str] = []
    names_since_comment = False
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("#"):
            if names_since_comment:
                comment, names_since_comment = [], False
            comment.append(line)
        elif match := re.match(r"^([A-Z0-9_]+)=", line):
            found[match.group(1)] = "\n".join(c for c in comment if not c.startswith("# ---"))
            names_since_comment = True
        else:
            comment, names_since_comment = [], False
    return found


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    names = documented()
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - names.keys() == set()
    assert all(names[name].strip("# ") for name in settings)


def test_env_example_names_only_known_settings() -> None:
    extra = documented().keys() - {n.upper() for n in Settings.model_fields} - DEV_ONLY
    compose = ROOT / "docker-compose.yml"
    if compose.exists():
        extra = {name for name in extra if name not in compose.read_text()}
    assert extra == set()
