"""GET and HEAD /api/v1/images/{image_id}/file: the image's bytes, proxied from object storage."""

import uuid

from fastapi import Request, Response
from mangum import Mangum

from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep
from imageapi.routes.downloads import FILE_RESPONSES, file_response
from imageapi.store.storage import StorageDep

app = create_app(title="Download image")


@app.get(
    "/api/v1/images/{image_id}/file",
    response_class=Response,
    responses={**FILE_RESPONSES, **error_responses(404)},
    summary="Download an image's file",
)
def download_image(image_id: uuid.UUID, request: Request, db: DbDep, storage: StorageDep) -> Response:
    """The bytes as uploaded, with ETag, ranges (206) and conditional requests; a file larger than
    DOWNLOAD_REDIRECT_BYTES answers 307 to a short-lived URL of the store."""
    return file_response(request, image_id=image_id, db=db, storage=storage)


@app.head(
    "/api/v1/images/{image_id}/file",
    response_class=Response,
    responses={**FILE_RESPONSES, **error_responses(404)},
    summary="An image file's headers",
)
def download_image_headers(image_id: uuid.UUID, request: Request, db: DbDep, storage: StorageDep) -> Response:
    """The GET's status and headers, without the body."""
    return file_response(request, image_id=image_id, db=db, storage=storage)


handler = Mangum(app, lifespan="off")
