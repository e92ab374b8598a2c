"""POST /api/v1/uploads/{upload_id}/complete: check the uploaded file and publish it as an image."""

import uuid

from fastapi import Request
from fastapi.responses import JSONResponse
from mangum import Mangum

from imageapi.core.schemas import ImagePublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.bodies import BOUNDED_BODY
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.http.idempotency import OPENAPI_PARAMETER as IDEMPOTENCY_KEY
from imageapi.routes.sessions import complete_session
from imageapi.store.storage import StorageDep

app = create_app(title="Complete upload")


@app.post(
    "/api/v1/uploads/{upload_id}/complete",
    status_code=201,
    response_model=ImagePublic,
    responses=error_responses(400, 404, 409, 413, 415),
    openapi_extra={"parameters": [IDEMPOTENCY_KEY]},
    dependencies=[BOUNDED_BODY],  # it reads no body, but a large one is refused, not drained
    summary="Complete an upload session",
)
async def complete_upload(
    upload_id: uuid.UUID, request: Request, db: DbDep, storage: StorageDep, settings: SettingsDep
) -> JSONResponse:
    """Checks the file the client PUT (type, size, SHA-256, dimensions) and publishes it as an
    image. Safe to repeat: a second call answers the same image."""
    return await complete_session(request, upload_id=upload_id, db=db, storage=storage, settings=settings)


handler = Mangum(app, lifespan="off")
