"""POST /api/v1/uploads: start an upload session; the client then PUTs the file straight to S3."""

from typing import Annotated

from fastapi import Request
from fastapi.responses import JSONResponse
from mangum import Mangum

from imageapi.core.schemas import UploadSessionCreate, UploadSessionPublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.bodies import json_body, json_request_body
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.http.idempotency import OPENAPI_PARAMETER as IDEMPOTENCY_KEY
from imageapi.routes.sessions import create_session
from imageapi.store.storage import StorageDep

app = create_app(title="Create upload")


@app.post(
    "/api/v1/uploads",
    status_code=201,
    response_model=UploadSessionPublic,
    responses=error_responses(400, 409, 413, 415, 429),
    openapi_extra={"parameters": [IDEMPOTENCY_KEY], **json_request_body(UploadSessionCreate)},
    summary="Start an upload session for a large file",
)
async def create_upload(
    body: Annotated[UploadSessionCreate, json_body(UploadSessionCreate)],
    request: Request,
    db: DbDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Answers a presigned request (method, URL, headers) to PUT the file straight to the store,
    up to MAX_SESSION_UPLOAD_BYTES; then POST .../complete. At most MAX_PENDING_UPLOAD_SESSIONS
    may be open per token or client address (429)."""
    return await create_session(request, body=body, db=db, storage=storage, settings=settings)


handler = Mangum(app, lifespan="off")
