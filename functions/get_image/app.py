"""GET /api/v1/images/{image_id}: one image's metadata."""

import uuid

from fastapi import Request
from mangum import Mangum

from imageapi.core.schemas import ImagePublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep
from imageapi.routes.images import find_image

app = create_app(title="Get image")


@app.get("/api/v1/images/{image_id}", response_model=ImagePublic, responses=error_responses(404))
def get_image(image_id: uuid.UUID, request: Request, db: DbDep) -> ImagePublic:
    return find_image(request, image_id=image_id, db=db)


handler = Mangum(app, lifespan="off")
