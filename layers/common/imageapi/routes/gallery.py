"""GET /: the gallery page. The HTML file ships with the gallery function (functions/gallery/
index.html); this fills in the one setting the page needs and adds the page's headers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi.responses import HTMLResponse

from imageapi.core.settings import Settings

# Scripts and styles are the page's own, inline; images are blob: URLs of authorised fetches;
# a large file's upload session may send its bytes straight to the bucket (another origin);
# blob: lets what the page shows be read back (the browser tests compare it byte for byte).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob:;"
    " connect-src * blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


@lru_cache(maxsize=2)
def _read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def gallery_page(page: Path, *, settings: Settings) -> HTMLResponse:
    """page: the function's own index.html."""
    html = _read(page).replace("{{MAX_UPLOAD_BYTES}}", str(settings.max_upload_bytes))
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )
