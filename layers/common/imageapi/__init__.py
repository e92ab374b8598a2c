"""Shared code of the image API functions: settings, data access, storage and HTTP wiring."""
