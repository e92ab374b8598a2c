"""GET /: the gallery page. The HTML file ships with the gallery function (functions/gallery/
index.html); this fills in the one setting the page needs and adds the page's headers, among them a
Content-Security-Policy that names the page's own script and style by their SHA-256 (no
'unsafe-inline') and lets it connect only to the API and to the bucket its upload sessions PUT to."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse

from imageapi.core.settings import Settings

_INLINE = {kind: re.compile(rf"<{kind}>(.*?)</{kind}>", re.DOTALL) for kind in ("script", "style")}
# A label S3 accepts as a virtual host: what botocore checks before putting the bucket in the host.
_VIRTUAL_HOSTABLE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
LOCALSTACK_PORT = 4566


@dataclass(frozen=True)
class GalleryPage:
    html: str
    script_hashes: tuple[str, ...]  # CSP sources, 'sha256-...'
    style_hashes: tuple[str, ...]


def _hashes(html: str, kind: str) -> tuple[str, ...]:
    return tuple(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE[kind].findall(html)
    )


def load_page(path: Path) -> GalleryPage:
    """Reads the page and hashes its inline <script> and <style> once (at the function's import).
    The placeholders filled in per request sit outside both, so the hashes hold."""
    html = path.read_text(encoding="utf-8")
    return GalleryPage(html=html, script_hashes=_hashes(html, "script"), style_hashes=_hashes(html, "style"))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _virtual_host(bucket: str, *, scheme: str, host: str) -> bool:
    """Whether botocore's presigner puts the bucket in the host (virtual-hosted style)."""
    if not _VIRTUAL_HOSTABLE.match(bucket) or ".." in bucket or _is_ip(host):
        return False
    return "." not in bucket or scheme == "http"  # a dotted name breaks the certificate's wildcard


def object_store_origin(settings: Settings) -> str:
    """The origin of the presigned URLs an upload session hands out, worked out as the presigner
    (store/storage.py's signing client, SigV4, "virtual" addressing unless S3_FORCE_PATH_STYLE)
    does, without loading botocore: S3_PUBLIC_ENDPOINT_URL, S3_ENDPOINT_URL, LOCALSTACK_HOST, else
    AWS's regional endpoint. tests/layer/test_gallery_policy.py holds it to the presigner."""
    bucket = settings.s3_bucket
    endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    if endpoint is None and settings.localstack_host:
        host = settings.localstack_host
        endpoint = f"http://{host}" if ":" in host else f"http://{host}:{LOCALSTACK_PORT}"
    if endpoint is None:
        region = settings.s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        suffix = "amazonaws.com.cn" if (region or "").startswith("cn-") else "amazonaws.com"
        endpoint = (
            f"https://s3.{region}.{suffix}" if region and region != "us-east-1" else f"https://s3.{suffix}"
        )
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if not settings.s3_force_path_style and _virtual_host(bucket, scheme=parts.scheme, host=host):
        return f"{parts.scheme}://{bucket}.{parts.netloc}"
    return f"{parts.scheme}://{parts.netloc}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(page: GalleryPage, *, settings: Settings) -> str:
    """Images are blob: URLs of authorised fetches (and the data: favicon); connect-src adds the
    bucket, where a large file's upload session sends its bytes, and blob:, which lets what the
    page shows be read back (the browser tests compare it byte for byte); and PUBLIC_BASE_URL's
    origin, which the API's own links name when the page is opened on another host."""
    api = _origin(settings.public_base_url) if settings.public_base_url else ""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(page.script_hashes or ("'none'",)),
            "style-src " + " ".join(page.style_hashes or ("'none'",)),
            "img-src 'self' blob: data:",
            " ".join(filter(None, ["connect-src 'self'", api, object_store_origin(settings), "blob:"])),
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


def gallery_page(page: GalleryPage, *, settings: Settings) -> HTMLResponse:
    """page: the function's own index.html, loaded by load_page."""
    html = page.html.replace("{{MAX_UPLOAD_BYTES}}", str(settings.max_upload_bytes))
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(page, settings=settings),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )
