"""Deletes what a crash left behind (objects without rows, rows without objects), on a schedule."""

from imageapi.reconcile import handler

__all__ = ["handler"]
