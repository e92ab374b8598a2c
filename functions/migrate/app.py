"""Applies the SQL migrations: run at deploy time as a custom resource, or by `sam remote invoke`."""

from imageapi.store.migrate import handler

__all__ = ["handler"]
