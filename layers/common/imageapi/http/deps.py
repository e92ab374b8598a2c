"""FastAPI dependencies as Annotated aliases; tests and the dev server can override them.

They are async on purpose: each is a cached lookup, and a sync dependency would cost a hop to
a worker thread on every request (on Lambda, a new thread per invocation). The storage
dependency lives in storage.py, so that routes without S3 never import boto3."""

from typing import Annotated

from fastapi import Depends

from imageapi.core.settings import Settings, get_settings
from imageapi.store.db import Database, get_database


async def settings() -> Settings:
    return get_settings()


async def database() -> Database:
    return get_database()  # opens nothing: the connection is made on first use


SettingsDep = Annotated[Settings, Depends(settings)]
DbDep = Annotated[Database, Depends(database)]
