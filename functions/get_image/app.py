"""GET /api/v1/images/{image_id}: one image's metadata."""

import uuid

from fastapi import Request
from mangum import Mangum

from imageapi.api import create_app, error_responses
from imageapi.deps import DbDep
from imageapi.images import find_image
from imageapi.schemas import ImagePublic

app = create_app(title="Get image")


@app.get("/api/v1/images/{image_id}", response_model=ImagePublic, responses=error_responses(404))
def get_image(image_id: uuid.UUID, request: Request, db: DbDep) -> ImagePublic:
    return find_image(request, image_id=image_id, db=db)


handler = Mangum(app, lifespan="off")
