# syntax=docker/dockerfile:1
# fastapi-tasks demo service.
#   docker build -t fastapi-tasks-demo .
#   docker run --rm -p 8000:8000 -v demo-data:/app/data fastapi-tasks-demo
# Configuration comes from environment variables (see the README), e.g. -e MODE=live.
# tests/docker/ builds and runs this file for real (make docker-test).

# Both stages use this exact tag (patch and Debian release pinned): the venv built in the
# builder runs on the final stage's interpreter, so the two must never drift apart. A build
# argument so the Docker test can build on a base made from Debian's packages (it cannot pull).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: install the dependencies, then the project wheel, into a venv ----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, from the lock alone (every version pinned, every file hash checked, so a
# rebuild installs the same bytes; `make lock` regenerates it): editing the code reuses this
# layer instead of reinstalling every dependency.
COPY requirements.lock ./
RUN /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes -r requirements.lock

COPY pyproject.toml README.md LICENSE ./
COPY fastapi_tasks ./fastapi_tasks
COPY app ./app
COPY walkthrough ./walkthrough
COPY migrations ./migrations

# The wheel carries the migrations as app/_migrations, so the installed command finds them
# without a source checkout.
RUN /opt/venv/bin/python -m pip wheel --no-cache-dir --no-deps . -w /tmp/wheels \
    && /opt/venv/bin/python -m pip install --no-cache-dir --no-deps /tmp/wheels/*.whl

# ---- final image: the venv only, run as an unprivileged user ----
FROM ${PYTHON_IMAGE}

# MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs its own arena, and the worker
# threads (Pillow, bcrypt) keep RSS growing; with two arenas it stays flat (bench/memory.py).
# HOST/PORT: serve binds them when --host/--port are not given; platforms that assign the port
# set PORT, and the health check follows it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# The SQLite database (./data/app.db) and uploads (./data/uploads) live under WORKDIR/data.
WORKDIR /app
RUN mkdir -p /app/data && chown -R app:app /app
USER 10001:10001
VOLUME /app/data

EXPOSE 8000

# slim has no curl: a Python one-liner asks /health on $PORT and exits non-zero unless it answers 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4).status == 200 else 1)"]

# serve: apply migrations, seed the catalogue, run uvicorn on $HOST:$PORT (shuts down gracefully
# on SIGTERM).
CMD ["fastapi-tasks-demo", "serve"]
