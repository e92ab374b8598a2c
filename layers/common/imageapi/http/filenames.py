"""Client filenames made safe to store and to send back in Content-Disposition."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_CHARS = 200
MAX_BYTES = 255  # what most file systems allow a name, in UTF-8; what a client saves it under
_RESERVED = set('"<>:|?*')  # not allowed in names on Windows, and trouble in headers
_JOINERS = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: they spell Persian words and join emoji sequences
_EXTENSIONS = {"jpg": {"jpg", "jpeg", "jpe"}, "png": {"png"}, "gif": {"gif"}, "webp": {"webp"}}
_LONGEST_EXTENSION = 16  # a longer "extension" is part of the name, cut with it


def sanitize_filename(raw: str | None, *, extension: str) -> str:
    """A portable file name: no path, no control, format or reserved characters, and an extension that
    matches the real type ("notes.txt" holding a PNG becomes "notes.txt.png"); at most MAX_CHARS
    characters and MAX_BYTES of UTF-8, the stem cut. ZWJ and ZWNJ stay between two visible
    characters; bidi overrides and every other format character go, since they can make a name
    read as another one."""
    name = _cleaned(raw)
    stem, dot, ext = name.rpartition(".")
    if not (dot and ext.lower() in _EXTENSIONS.get(extension, {extension})):
        stem, ext = name, extension
    stem = _cut(stem[: MAX_CHARS - len(ext) - 1], MAX_BYTES - len(ext.encode()) - 1).strip(" .") or "image"
    return f"{stem}.{ext}"


def bounded_filename(raw: str) -> str:
    """The name as kept before the file's type is known (an upload session): cleaned as
    sanitize_filename cleans it and cut to MAX_BYTES of UTF-8, the stem first, so that a name of
    any length costs the table a bounded row. Cut, not refused: the name is the client's file
    system's, which its user may not choose, and every upload route has always shortened it.
    sanitize_filename gives its final form once the type is known."""
    name = _cleaned(raw)
    if len(name.encode()) <= MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext.encode()) > _LONGEST_EXTENSION:
        return _cut(name, MAX_BYTES)
    return f"{_cut(stem, MAX_BYTES - len(ext.encode()) - 1)}.{ext}"


def _cleaned(raw: str | None) -> str:
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for i, ch in enumerate(name) if _kept(name, i))
    return name.strip(" .")


def _cut(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8, cut between characters; no joiner left dangling at the end."""
    return text.encode()[:max_bytes].decode("utf-8", "ignore").rstrip("".join(_JOINERS))


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
