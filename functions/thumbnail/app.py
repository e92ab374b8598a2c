"""GET /api/v1/images/{image_id}/thumbnail?size=256: a WebP thumbnail, made on first request."""

import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from mangum import Mangum

from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.routes.thumbnails import THUMBNAIL_RESPONSES, thumbnail_response
from imageapi.store.layout import DEFAULT_THUMBNAIL_SIZE, ThumbnailSize
from imageapi.store.storage import StorageDep

app = create_app(title="Image thumbnail")


@app.get(
    "/api/v1/images/{image_id}/thumbnail",
    response_class=Response,
    responses={**THUMBNAIL_RESPONSES, **error_responses(404)},
    summary="Get a thumbnail",
)
async def image_thumbnail(
    image_id: uuid.UUID,
    request: Request,
    db: DbDep,
    storage: StorageDep,
    settings: SettingsDep,
    size: Annotated[ThumbnailSize, Query(description="Longest side in pixels")] = DEFAULT_THUMBNAIL_SIZE,
) -> Response:
    """A WebP of the image, upright, whose longest side is `size`; made on the first request and
    kept in the store. HEIC and AVIF originals show through it in any browser."""
    return await thumbnail_response(
        request, image_id=image_id, size=int(size), db=db, storage=storage, settings=settings
    )


handler = Mangum(app, lifespan="off")
