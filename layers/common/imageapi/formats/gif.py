"""GIF: blocks up to the trailer; the size from the logical screen descriptor, grown to hold the
first frame.

A frame may lie partly or wholly outside the logical screen. Decoders do not clip it: Pillow
grows its canvas to hold each frame where it lies, and browsers take the first frame's size when
it exceeds the screen. So the size reported is the screen grown to hold the first frame (what is
shown), and the pixel limit is held against the screen grown to hold every frame (what a decoder
allocates): a 1x1 screen cannot smuggle in a 65535x65535 frame, and the real files whose frames
overhang their screen are still accepted."""

from __future__ import annotations

import struct

from .containers import Facts, Read, Span, SubBlocks, Walker


def walk(facts: Facts) -> Walker:
    screen = yield Read(13)  # signature and logical screen descriptor
    width, height = struct.unpack("<HH", screen[6:10])
    facts.width, facts.height = width, height
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
            left, top, frame_width, frame_height = struct.unpack("<HHHH", descriptor[:8])
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            facts.frame(width, height)
            if images == 0:
                facts.width, facts.height = width, height
            if descriptor[8] & 0x80:
                yield Span(3 << ((descriptor[8] & 7) + 1), scan=True)
            yield Read(1)  # LZW minimum code size
            yield SubBlocks(scan=False)
            images += 1
        else:  # the trailer; other bytes after an image end it as decoders do
            facts.ended = introducer == 0x3B or images > 0
            return
