"""Client filenames made safe to store and to send back in Content-Disposition."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_CHARS = 200
_RESERVED = set('"<>:|?*')  # not allowed in names on Windows, and trouble in headers
_JOINERS = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: they spell Persian words and join emoji sequences
_EXTENSIONS = {"jpg": {"jpg", "jpeg", "jpe"}, "png": {"png"}, "gif": {"gif"}, "webp": {"webp"}}


def sanitize_filename(raw: str | None, *, extension: str) -> str:
    """A portable file name: no path, no control, format or reserved characters, and an extension that
    matches the real type ("notes.txt" holding a PNG becomes "notes.txt.png"). ZWJ and ZWNJ stay
    between two visible characters; bidi overrides and every other format character go, since
    they can make a name read as another one."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for i, ch in enumerate(name) if _kept(name, i))
    name = name.strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not (dot and ext.lower() in _EXTENSIONS.get(extension, {extension})):
        stem, ext = name, extension
    stem = stem[: MAX_CHARS - len(ext) - 1].strip(" .") or "image"
    return f"{stem}.{ext}"


def _kept(name: str, index: int) -> bool:
    ch = name[index]
    if ch == " ":
        return True
    if ch in _JOINERS:
        return 0 < index < len(name) - 1 and _visible(name[index - 1]) and _visible(name[index + 1])
    return unicodedata.category(ch)[0] not in "CZ" and ch not in _RESERVED


def _visible(ch: str) -> bool:
    """A letter, mark, digit or symbol (emoji are symbols): what a joiner may sit between."""
    return unicodedata.category(ch)[0] in "LMNS"


def content_disposition(filename: str) -> str:
    """attachment, with an ASCII fallback and the exact name as RFC 5987 filename*."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
