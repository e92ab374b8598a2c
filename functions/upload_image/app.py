"""POST /api/v1/images/: store an image and its description."""

from fastapi import Request
from fastapi.responses import JSONResponse
from mangum import Mangum

from imageapi.core.schemas import UPLOAD_REQUEST_BODY, ImagePublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.http.idempotency import OPENAPI_PARAMETER as IDEMPOTENCY_KEY
from imageapi.routes.uploads import upload
from imageapi.store.storage import StorageDep

app = create_app(title="Upload image")


@app.post(
    "/api/v1/images/",
    status_code=201,
    response_model=ImagePublic,
    responses=error_responses(400, 409, 413, 415),
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY, "parameters": [IDEMPOTENCY_KEY]},
    summary="Upload an image",
)
async def upload_image(
    request: Request, db: DbDep, storage: StorageDep, settings: SettingsDep
) -> JSONResponse:
    """multipart/form-data with `file` (JPEG, PNG, GIF, WebP, AVIF or HEIC, up to MAX_UPLOAD_BYTES)
    and a `description`. The bytes are checked while they stream to the store; the
    answer is the image's metadata. Larger files go through an upload session (POST /api/v1/uploads)."""
    return await upload(request, db=db, storage=storage, settings=settings)


handler = Mangum(app, lifespan="off")
