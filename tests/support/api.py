"""The API's routes as calls on any Target, with JSON decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local.apigw import HttpResponse
from tests.support.multipart import upload_body
from tests.support.targets import Target

IMAGES = "/api/v1/images/"
UPLOADS = "/api/v1/uploads"


@dataclass
class Api:
    target: Target
    headers: dict[str, str] = field(default_factory=dict)  # sent with every write

    def with_headers(self, headers: dict[str, str]) -> Api:
        return Api(self.target, {**self.headers, **headers})

    def upload(self, data: bytes, **form: str) -> HttpResponse:
        body, content_type = upload_body(data, **form)
        sent = {"content-type": content_type, **self.headers}
        return self.target.request("POST", IMAGES, headers=sent, body=body)

    def upload_ok(self, data: bytes, **form: str) -> dict[str, Any]:
        response = self.upload(data, **form)
        assert response.status == 201, response.body
        return json_of(response)

    def list(self, query: str = "") -> HttpResponse:
        return self.target.request("GET", f"{IMAGES}?{query}" if query else IMAGES)

    def get(self, image_id: str) -> HttpResponse:
        return self.target.request("GET", f"{IMAGES}{image_id}")

    def patch(self, image_id: str, body: object, headers: dict[str, str] | None = None) -> HttpResponse:
        """PATCH with body as JSON (bytes are sent as they are)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json", **self.headers, **(headers or {})}
        return self.target.request("PATCH", f"{IMAGES}{image_id}", headers=sent, body=raw)

    def download(self, image_id: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return self.target.request("GET", f"{IMAGES}{image_id}/file", headers=headers)

    def thumbnail(
        self, image_id: str, query: str = "", headers: dict[str, str] | None = None
    ) -> HttpResponse:
        url = f"{IMAGES}{image_id}/thumbnail"
        return self.target.request("GET", f"{url}?{query}" if query else url, headers=headers)

    def delete(self, image_id: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return self.target.request("DELETE", f"{IMAGES}{image_id}", headers=headers)

    def post_raw(self, body: bytes, content_type: str | None) -> HttpResponse:
        headers = {"content-type": content_type} if content_type else {}
        return self.target.request("POST", IMAGES, headers=headers, body=body)

    def create_session(self, **fields: object) -> HttpResponse:
        body = json.dumps(fields).encode()
        sent = {"content-type": "application/json", **self.headers}
        return self.target.request("POST", UPLOADS, headers=sent, body=body)

    def create_session_ok(self, **fields: object) -> dict[str, Any]:
        response = self.create_session(**fields)
        assert response.status == 201, response.body
        return json_of(response)

    def complete(self, upload_id: str) -> HttpResponse:
        return self.target.request("POST", f"{UPLOADS}/{upload_id}/complete", headers=self.headers)


def json_of(response: HttpResponse) -> Any:
    assert (response.header("content-type") or "").startswith("application/json"), response.headers
    return json.loads(response.body)
