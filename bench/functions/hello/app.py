"""The cold-start and warm-invocation baseline: a bare FastAPI app with one route, under Mangum."""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI(title="Hello")


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


handler = Mangum(app, lifespan="off")
