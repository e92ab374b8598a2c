"""Local-only tooling: the dev server, the API Gateway emulator and the services they start.

Never referenced by template.yaml, never deployed."""
