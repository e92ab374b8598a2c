"""PATCH /api/v1/images/{image_id}: edit the description, guarded by If-Match (lost updates: 412)."""

import uuid
from typing import Annotated

from fastapi import Request
from fastapi.responses import JSONResponse
from mangum import Mangum

from imageapi.core.schemas import ImagePublic, ImageUpdate
from imageapi.http.api import create_app, error_responses
from imageapi.http.bodies import json_body, json_request_body
from imageapi.http.deps import DbDep
from imageapi.routes.updates import UPDATE_DESCRIPTION, UPDATE_RESPONSES, update_image

app = create_app(title="Update image")


@app.patch(
    "/api/v1/images/{image_id}",
    response_model=ImagePublic,
    summary="Edit an image's description",
    description=UPDATE_DESCRIPTION,
    responses={**UPDATE_RESPONSES, **error_responses(400, 404, 412, 413, 415)},
    openapi_extra=json_request_body(ImageUpdate),
)
def update(
    image_id: uuid.UUID, body: Annotated[ImageUpdate, json_body(ImageUpdate)], request: Request, db: DbDep
) -> JSONResponse:
    return update_image(request, image_id=image_id, body=body, db=db)


handler = Mangum(app, lifespan="off")
