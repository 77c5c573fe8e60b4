# syntax=docker/dockerfile:1
# fastapi-tasks demo service.
#   docker build -t fastapi-tasks-demo .
#   docker run --rm -p 8000:8000 -v demo-data:/app/data fastapi-tasks-demo
# Configuration comes from environment variables (see the README), e.g. -e MODE=live.

# ---- builder: build the project wheel and install it with its dependencies into a venv ----
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

COPY pyproject.toml README.md ./
COPY fastapi_tasks ./fastapi_tasks
COPY app ./app
COPY migrations ./migrations

# The wheel carries the migrations as app/_migrations, so the installed command finds them
# without a source checkout.
RUN python -m pip wheel --no-cache-dir --no-deps . -w /tmp/wheels \
    && /opt/venv/bin/python -m pip install --no-cache-dir /tmp/wheels/*.whl

# ---- final image: the venv only, run as an unprivileged user ----
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# The SQLite database (./data/app.db) and uploads (./data/uploads) live under WORKDIR/data.
WORKDIR /app
RUN mkdir -p /app/data && chown -R app:app /app
USER 10001:10001
VOLUME /app/data

EXPOSE 8000

# slim has no curl: a Python one-liner asks /health and exits non-zero unless it answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# serve: apply migrations, seed the catalogue, run uvicorn (shuts down gracefully on SIGTERM).
CMD ["fastapi-tasks-demo", "serve", "--host", "0.0.0.0"]
