"""The rules a description follows, whichever route brings it."""

from __future__ import annotations

import unicodedata

from imageapi.core.errors import Unprocessable
from imageapi.core.schemas import DESCRIPTION_MAX_CHARS

# Bidi embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI): one can
# make a caption, alt text or a delete confirmation read backwards. The marks LRM and RLM stay:
# right-to-left text needs them, and they reorder nothing around them.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def clean_description(text: str) -> str:
    """NFC, bidi controls dropped, trimmed; 422 if empty, too long or holding control characters."""
    text = unicodedata.normalize("NFC", text).translate(_BIDI_CONTROLS).strip()
    if not text:
        raise Unprocessable("description must not be empty")
    if len(text) > DESCRIPTION_MAX_CHARS:  # what is stored, so the database's own check agrees
        raise Unprocessable(
            f"description must be at most {DESCRIPTION_MAX_CHARS} characters once normalised"
            f" (Unicode NFC, as stored); this one has {len(text)}"
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text):
        raise Unprocessable("description must not contain control characters")
    return text
