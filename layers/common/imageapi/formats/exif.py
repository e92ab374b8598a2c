"""The EXIF orientation tag (0x0112), read from an EXIF block without any other parsing."""

from __future__ import annotations

import struct

ORIENTATION_TAG = 0x0112
MAX_ENTRIES = 1000  # IFD0 of real cameras holds a few dozen; a crafted count is not walked further
# The standard says SHORT, but cameras write the value in any integer type (Panasonic: SLONG),
# and readers take it: BYTE, SHORT, LONG, SBYTE, SSHORT, SLONG, by TIFF type number.
_INTEGER_TYPES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}
_SIZES = {kind: struct.calcsize(code) for kind, code in _INTEGER_TYPES.items()}


def orientation(data: bytes) -> int | None:
    """IFD0's orientation, 1 to 8, or None if the block has none (or a value outside 1-8, or is
    cut short).

    data is a TIFF structure ('II*\\0' or 'MM\\0*'), optionally after the 'Exif\\0\\0' header that
    JPEG's APP1 carries and some WebP and PNG writers copy."""
    try:
        return _orientation(data)
    except struct.error:
        return None


def _orientation(data: bytes) -> int | None:
    if data.startswith(b"Exif\0\0"):
        data = data[6:]
    if data[:4] == b"II*\0":
        order = "<"
    elif data[:4] == b"MM\0*":
        order = ">"
    else:
        return None
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for index in range(min(count, MAX_ENTRIES)):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(data):
            return None
        tag, kind, number = struct.unpack(order + "HHI", data[entry : entry + 8])
        if tag != ORIENTATION_TAG:
            continue
        if kind not in _INTEGER_TYPES or number < 1:
            return None
        (value,) = struct.unpack(order + _INTEGER_TYPES[kind], data[entry + 8 : entry + 8 + _SIZES[kind]])
        return value if 1 <= value <= 8 else None
    return None


MP_ENTRY_TAG = 0xB002
MAX_FRAMES = 64


def mp_frame_offsets(data: bytes) -> list[int]:
    """Where a JPEG's MPF index (CIPA DC-007, in APP2 after 'MPF\\0') puts the frames after the
    first: offsets from the start of this TIFF structure, in the file's order."""
    if data[:4] == b"II*\0":
        order = "<"
    elif data[:4] == b"MM\0*":
        order = ">"
    else:
        return []
    try:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
        for index in range(min(count, MAX_ENTRIES)):
            entry = ifd + 2 + 12 * index
            tag, _, length, at = struct.unpack(order + "HHII", data[entry : entry + 12])
            if tag != MP_ENTRY_TAG:
                continue
            offsets = []
            for start in range(at, at + min(length, 16 * MAX_FRAMES), 16):
                (offset,) = struct.unpack(order + "I", data[start + 8 : start + 12])
                if offset:  # the first frame's entry says 0
                    offsets.append(offset)
            return sorted(offsets)
    except struct.error:
        pass
    return []
