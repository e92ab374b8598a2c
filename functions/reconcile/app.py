"""On a schedule: deletes objects without rows, reports rows without objects (never deletes rows)."""

from imageapi.store.reconcile import handler

__all__ = ["handler"]
