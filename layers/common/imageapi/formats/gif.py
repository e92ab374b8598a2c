"""GIF: blocks up to the trailer; the size from the logical screen descriptor."""

from __future__ import annotations

import struct

from .containers import Facts, Read, Span, SubBlocks, Walker


def walk(facts: Facts) -> Walker:
    screen = yield Read(13)  # signature and logical screen descriptor
    facts.width, facts.height = struct.unpack("<HH", screen[6:10])
    if screen[10] & 0x80:
        yield Span(3 << ((screen[10] & 7) + 1), scan=True)  # global palette
    images = 0
    while True:
        introducer = (yield Read(1))[0]
        if introducer == 0x21:  # extension: label, then comment or application text
            yield Read(1)
            yield SubBlocks(scan=True)
        elif introducer == 0x2C:  # image: descriptor, local palette, LZW data
            descriptor = yield Read(9)
            if descriptor[8] & 0x80:
                yield Span(3 << ((descriptor[8] & 7) + 1), scan=True)
            yield Read(1)  # LZW minimum code size
            yield SubBlocks(scan=False)
            images += 1
        else:  # the trailer; other bytes after an image end it as decoders do
            facts.ended = introducer == 0x3B or images > 0
            return
