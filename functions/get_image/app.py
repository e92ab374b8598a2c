"""GET (and HEAD) /api/v1/images/{image_id}: one image's metadata, with its ETag."""

import uuid

from fastapi import Request, Response
from mangum import Mangum

from imageapi.core.schemas import ImagePublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep
from imageapi.routes.images import METADATA_RESPONSES, metadata_response

app = create_app(title="Get image")


@app.get(
    "/api/v1/images/{image_id}",
    response_model=ImagePublic,
    summary="Get an image's metadata",
    description="The ETag changes with every edit: send it as If-None-Match to revalidate (304),"
    " or as If-Match to PATCH only the version you read.",
    responses={**METADATA_RESPONSES, **error_responses(404, 503)},
)
def get_image(image_id: uuid.UUID, request: Request, db: DbDep) -> Response:
    return metadata_response(request, image_id=image_id, db=db)


handler = Mangum(app, lifespan="off")
