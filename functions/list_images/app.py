"""GET /api/v1/images/: the newest images first, a page at a time."""

from typing import Annotated

from fastapi import Query, Request
from mangum import Mangum

from imageapi.core.schemas import ImagesPublic
from imageapi.http.api import create_app, error_responses
from imageapi.http.deps import DbDep, SettingsDep
from imageapi.routes.listing import DEFAULT_LIMIT, MAX_LIMIT, list_page

app = create_app(title="List images")


@app.get(
    "/api/v1/images/",
    response_model=ImagesPublic,
    responses=error_responses(400),
    summary="List images, newest first",
)
def list_images(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ImagesPublic:
    """A page of images, each with its metadata and links. `next_cursor` fetches the next page;
    an image shows once the oldest write transaction still running has ended, so a page never
    skips one that commits later."""
    return list_page(request, db=db, settings=settings, limit=limit, cursor=cursor)


handler = Mangum(app, lifespan="off")
