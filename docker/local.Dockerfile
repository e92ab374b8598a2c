# The local tooling of local/: the API Gateway emulator (python -m local.gateway) and the dev
# server (python -m local.devserver). Never deployed; it holds the functions only for the dev
# server, which serves them all in one process.
FROM python:3.12.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app/layers/common:/app
WORKDIR /app

# The layer's requirements, plus the local tools pinned in requirements-serve.txt (taken from
# there so the versions never drift apart).
# The thumbnail function's own requirements too: the dev server imports every function.
COPY layers/common/requirements.txt requirements-serve.txt /tmp/requirements/
COPY functions/thumbnail/requirements.txt /tmp/requirements/thumbnail.txt
RUN grep -E '^(uvicorn|httptools|PyYAML|httpx)==' /tmp/requirements/requirements-serve.txt > /tmp/requirements/local.txt \
    && pip install --no-cache-dir -r /tmp/requirements/requirements.txt -r /tmp/requirements/local.txt \
        -r /tmp/requirements/thumbnail.txt \
    && rm -r /tmp/requirements

COPY template.yaml ./
COPY layers/common/ layers/common/
COPY functions/ functions/
COPY local/ local/

EXPOSE 8000
CMD ["python", "-m", "local.gateway", "--host", "0.0.0.0", "--port", "8000"]
