"""The real photos and odd-but-valid files of tests/photos (see its MANIFEST.md)."""

from __future__ import annotations

from pathlib import Path

PHOTOS = Path(__file__).resolve().parents[1] / "photos"


def photo(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()
