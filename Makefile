# Every target bootstraps .venv from nothing: a fresh clone needs only python3, make and gcc.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-postgres chaos lint bench bench-library bench-service bench-memory format clean walkthrough docker-test lock

# The first run installs everything quietly; say so, or it looks stuck.
$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): installing the service and its dev tools (about a minute, once)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# MALLOC_ARENA_MAX=2: see bench/README.md (memory stays flat; glibc's per-thread arenas do not).
demo: $(STAMP)
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} $(BIN)/fastapi-tasks-demo serve --host $(HOST) --port $(PORT)

# SQLite only, whatever the shell exports (make test-postgres is the PostgreSQL run).
test: $(STAMP)
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest -q

# The tutorial's steps against a running server: make walkthrough BASE=http://127.0.0.1:8765
BASE ?= http://$(HOST):$(PORT)
walkthrough: $(STAMP)
	$(BIN)/fastapi-tasks-demo walkthrough --url $(BASE)

# Builds the image and runs it on a private dockerd (root; Debian's docker.io and debootstrap,
# installed when missing): healthy, an order confirmed, docker stop exits 0, data kept.
docker-test: $(STAMP)
	tests/docker/install-tools.sh
	$(BIN)/python -m pytest -q -m docker -o faulthandler_timeout=0 tests/docker

# requirements.lock, what the image installs: every version pinned, every file hashed. Run it
# after changing the dependencies in pyproject.toml (it keeps the other pins as they are). The
# postgres extra is included, so the image runs on DATABASE_URL=postgresql+asyncpg://... too.
UV_VERSION := 0.13.9
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile pyproject.toml --extra postgres --quiet --generate-hashes --python-version 3.11 \
		--python-platform linux --custom-compile-command 'make lock' -o requirements.lock

# The same suite on a throwaway PostgreSQL cluster (Debian's package, installed if missing;
# see scripts/with-postgres.sh). The asyncpg driver comes from the postgres extra.
test-postgres: $(STAMP)
	$(BIN)/python -c 'import asyncpg' 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	scripts/with-postgres.sh $(BIN)/python -m pytest -q

# The crash test's long soak: 20 kill-and-restart rounds (SIGTERM and SIGKILL), figures printed.
chaos: $(STAMP)
	CHAOS_ROUNDS=$${CHAOS_ROUNDS:-20} $(BIN)/python -m pytest -q -s tests/e2e/test_chaos.py

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The library's performance bar side by side over uvicorn: the four required ratios with targets,
# verdicts and their spread over interleaved rounds (bench/README.md); about 4 minutes. Then the
# service's own figures (make bench-service).
bench: bench-library bench-service

bench-library: $(STAMP)
	$(BIN)/python -m bench

# Orders end to end under load (side by side with main before the throughput work, cff70d4), one
# hot-path write three ways, the event loop during bcrypt + uploads, memory under a long mixed
# load, SIGTERM with tasks in flight: each prints its figures and targets (about 10 minutes).
bench-service: $(STAMP)
	$(BIN)/python -m bench.orders_load
	$(BIN)/python -m bench.db_statements
	$(BIN)/python -m bench.loop_health
	$(BIN)/python -m bench.memory --shipped-only
	$(BIN)/python -m bench.shutdown

bench-memory: $(STAMP)
	$(BIN)/python -m bench.memory

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
