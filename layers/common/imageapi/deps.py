"""FastAPI dependencies as Annotated aliases; tests and the dev server can override them.

The storage dependency lives in storage.py, so that routes without S3 never import boto3."""

from typing import Annotated

from fastapi import Depends

from .db import Database, get_database
from .settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_database)]
