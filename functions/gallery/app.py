"""GET /: the gallery page, one HTML file (index.html beside this one) with its CSS and JavaScript."""

from pathlib import Path

from fastapi.responses import HTMLResponse
from mangum import Mangum

from imageapi.core.settings import get_settings
from imageapi.http.api import create_app
from imageapi.routes.gallery import gallery_page, load_page

# Read and hashed once, at import (the CSP names the page's script by its SHA-256).
PAGE = load_page(Path(__file__).with_name("index.html"))

app = create_app(title="Gallery", public=True)


@app.get("/", response_class=HTMLResponse, include_in_schema=False)
async def gallery() -> HTMLResponse:
    # Settings directly, not through imageapi.http.deps: that would import psycopg for nothing.
    return gallery_page(PAGE, settings=get_settings())


handler = Mangum(app, lifespan="off")
