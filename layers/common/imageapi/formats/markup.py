"""What counts as markup: text a browser would render as a page or run as script.

Polyglots hide markup where a parser keeps text: palettes, metadata and comment segments, or
bytes after the image's end. `inspection.ImageInspector` sends those parts here as they stream
(compressed pixel data is never sent: no client reads it as text, and in a large photo it holds
a chance '<svg ' every few hundred megabytes, which would refuse real images).

Markup is: an HTML, SVG, script or PHP tag; a DOCTYPE naming html or svg; the XHTML or SVG
namespace. XML that no browser renders as a page is not: an XML prolog, a plist DOCTYPE and its
<dict>, <key> and <string> elements, XMP's x:xmpmeta and rdf: elements, Photoshop and Lightroom
metadata."""

from __future__ import annotations

import re

# Tags that make a document run script or load content. A tag name ends at whitespace, '/' or '>'
# (HTML tokenizer): '<svg ' is markup, '<svgX' is not. Names shorter than three letters are left
# out: in a scanned EXIF thumbnail '<a ' turns up by chance once every ~200 KB. XML reads a
# prefixed name ('<x:script') as script only under the XHTML or SVG namespace: its URI is searched.
_TAGS = b"script|html|svg|iframe|body|img|object|embed|math|style|meta|link|base|form"
_MARKUP = re.compile(
    rb"<(?:" + _TAGS + rb")[\t\n\f\r />]"
    rb"|<!doctype[\t\n\f\r ]{1,4}(?:html|svg)[\t\n\f\r >]"
    rb"|<\?php[\t\n\r ]"
    rb"|http://www\.w3\.org/(?:1999/xhtml|2000/svg)",
    re.IGNORECASE,
)
_OVERLAP = 31  # longer than any match less one byte: a match split across chunks is still found

# The search slows down on text dense with '<' (all '<': about 9 MB/s). Text regions that dense
# beyond this allowance are refused as markup; real metadata (XMP is XML) stays far below it.
ANGLE_ALLOWANCE = 100_000
BYTES_PER_ANGLE = 32


class MarkupSearch:
    """Fed the parts of an upload a client could read as text, in order; `found` once they hold
    markup, even split across two parts."""

    def __init__(self) -> None:
        self.found = False
        self._carry = b""  # the end of the last searched bytes, for markup split across them
        self._angles = 0  # '<' in the searched bytes

    def search(self, data: bytes, *, seen: int) -> None:
        """seen: the upload's bytes so far, which the '<' allowance grows with."""
        if not data:
            return
        self._angles += data.count(b"<")
        dense = self._angles > ANGLE_ALLOWANCE + seen // BYTES_PER_ANGLE
        # The carry joined with this part's start, then the part alone: no copy of the part.
        across = bool(self._carry) and _MARKUP.search(self._carry + data[:_OVERLAP]) is not None
        if dense or across or _MARKUP.search(data):
            self.found = True
        self._carry = (self._carry + data)[-_OVERLAP:] if len(data) < _OVERLAP else data[-_OVERLAP:]

    def gap(self) -> None:
        """Bytes that are not text came between: markup cannot span them."""
        self._carry = b""
