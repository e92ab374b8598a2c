"""DELETE /api/v1/images/{image_id}: removes the image, its file and its thumbnails."""

import uuid

from fastapi import Response
from mangum import Mangum

from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep
from imageapi.routes.deletion import delete_image
from imageapi.store.storage import StorageDep

app = create_app(title="Delete image")


@app.delete(
    "/api/v1/images/{image_id}",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted: the row, the file and its thumbnails"}, **error_responses(404)},
    summary="Delete an image",
)
def delete(image_id: uuid.UUID, db: DbDep, storage: StorageDep) -> Response:
    """Removes the row, then the file and its thumbnails from the store."""
    delete_image(image_id=image_id, db=db, storage=storage)
    return Response(status_code=204)


handler = Mangum(app, lifespan="off")
