"""The other baseline: one function holding all four routes, as a monolith would be deployed."""

import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from mangum import Mangum

from imageapi.core.schemas import UPLOAD_REQUEST_BODY, ImagePublic, ImagesPublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.routes.downloads import FILE_RESPONSES, file_response
from imageapi.routes.images import find_image
from imageapi.routes.listing import DEFAULT_LIMIT, MAX_LIMIT, list_page
from imageapi.routes.uploads import upload
from imageapi.store.storage import StorageDep

app = create_app(title="Image API (monolith)")


@app.get("/api/v1/images/", response_model=ImagesPublic, responses=error_responses(400))
def list_images(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ImagesPublic:
    return list_page(request, db=db, settings=settings, limit=limit, cursor=cursor)


@app.post(
    "/api/v1/images/",
    status_code=201,
    response_model=ImagePublic,
    responses=error_responses(400, 413, 415),
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY},
)
async def upload_image(
    request: Request, db: DbDep, storage: StorageDep, settings: SettingsDep
) -> JSONResponse:
    return await upload(request, db=db, storage=storage, settings=settings)


@app.get("/api/v1/images/{image_id}", response_model=ImagePublic, responses=error_responses(404))
def get_image(image_id: uuid.UUID, request: Request, db: DbDep) -> ImagePublic:
    return find_image(request, image_id=image_id, db=db)


@app.get(
    "/api/v1/images/{image_id}/file",
    response_class=Response,
    responses={**FILE_RESPONSES, **error_responses(404)},
)
def download_image(image_id: uuid.UUID, request: Request, db: DbDep, storage: StorageDep) -> Response:
    return file_response(request, image_id=image_id, db=db, storage=storage)


handler = Mangum(app, lifespan="off")
