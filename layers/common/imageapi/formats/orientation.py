"""HEIF's rotation and mirroring (`irot`, `imir`) as the EXIF orientation that shows the stored
pixels upright, so that every format reports one kind of orientation.

Each transform is followed on the four corners of a square: the eight EXIF orientations are the
eight ways to place them, and a sequence of transforms lands on exactly one."""

from __future__ import annotations

from collections.abc import Iterable

_Square = tuple[tuple[str, str], tuple[str, str]]
_STORED: _Square = (("a", "b"), ("c", "d"))


def _rotate(square: _Square) -> _Square:
    """A quarter turn anticlockwise (`irot` counts in these)."""
    (a, b), (c, d) = square
    return (b, d), (a, c)


def _flip_top_bottom(square: _Square) -> _Square:
    return square[1], square[0]


def _flip_left_right(square: _Square) -> _Square:
    (a, b), (c, d) = square
    return (b, a), (d, c)


_TRANSFORMS = {"rotate": _rotate, "flip-tb": _flip_top_bottom, "flip-lr": _flip_left_right}

# What each EXIF orientation asks a viewer to do to the stored pixels (as Pillow's exif_transpose).
_EXIF = {
    1: _STORED,
    2: _flip_left_right(_STORED),
    3: _rotate(_rotate(_STORED)),
    4: _flip_top_bottom(_STORED),
    5: (("a", "c"), ("b", "d")),  # transpose
    6: _rotate(_rotate(_rotate(_STORED))),  # a quarter turn clockwise
    7: (("d", "b"), ("c", "a")),  # transverse
    8: _rotate(_STORED),
}
_BY_SQUARE = {square: value for value, square in _EXIF.items()}


def from_transforms(transforms: Iterable[str]) -> int:
    """The EXIF orientation (1-8) of "rotate" (a quarter turn anticlockwise), "flip-tb" and
    "flip-lr", applied in the order given."""
    square = _STORED
    for transform in transforms:
        square = _TRANSFORMS[transform](square)
    return _BY_SQUARE[square]
