"""Text the API stores: bidi controls never kept, file names within 255 bytes of UTF-8."""

from __future__ import annotations

import pytest

from imageapi.http.descriptions import clean_description
from imageapi.http.filenames import MAX_BYTES, bounded_filename, sanitize_filename

BIDI_CONTROLS = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_bidi_controls_are_dropped(control: str) -> None:
    assert clean_description(f"a{control}b") == "ab"
    assert bounded_filename(f"a{control}b.png") == "ab.png"
    assert sanitize_filename(f"a{control}b.png", extension="png") == "ab.png"


def test_right_to_left_marks_stay_in_descriptions() -> None:
    text = "\u05e9\u05dc\u05d5\u05dd \u200fabc\u200e"  # Hebrew with RLM and LRM
    assert clean_description(text) == text


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("a.png", "a.png"),
        ("é" * 300 + ".jpeg", "é" * 125 + ".jpeg"),  # the stem is cut, the extension kept
        ("x" * 300, "x" * 255),  # no extension
        ("x" * 200 + "." + "y" * 100, ("x" * 200 + "." + "y" * 100)[:255]),  # not an extension
        ("\U0001f600" * 70 + ".gif", "\U0001f600" * 62 + ".gif"),  # never half a character
        ("a" * 248 + "\u200d" + "b" * 10 + ".png", "a" * 248 + ".png"),  # no joiner left at the cut
    ],
)
def test_bounded_filename_cuts_to_255_bytes(sent: str, kept: str) -> None:
    assert bounded_filename(sent) == kept
    assert len(bounded_filename(sent).encode()) <= MAX_BYTES
