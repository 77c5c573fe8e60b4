"""The separate virtual environment holding the published ``fastapi-tasks`` package.

It imports as ``fastapi_tasks``, like ours, so it lives in ``bench/.venv-published`` and
only ever runs in its own process. FastAPI, Starlette, anyio, pydantic and the server
packages are pinned to the versions of the project's venv, so the task library is the
only difference between the variants.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

PUBLISHED_REQUIREMENT = "fastapi-tasks==0.1.0"

# Distributions pinned to whatever the running (project) interpreter has.
_PINNED = (
    "fastapi",
    "starlette",
    "anyio",
    "pydantic",
    "pydantic-core",
    "uvicorn",
    "uvloop",
    "httptools",
    "opentelemetry-api",
    "typing-extensions",
)

VENV_DIR = Path(__file__).resolve().parent / ".venv-published"
_MARKER = ".bench-requirements"


def requirements() -> list[str]:
    """The published package plus the shared stack at this venv's versions."""
    pins = [PUBLISHED_REQUIREMENT]
    for name in _PINNED:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def python_path(venv: Path = VENV_DIR) -> Path:
    return venv / "bin" / "python"


def ensure(venv: Path = VENV_DIR, *, install: bool = True) -> Path | None:
    """Return the venv's interpreter, creating/updating the venv when needed.

    Returns None (after saying why) when it is missing and cannot be made.
    """
    wanted = "\n".join(requirements())
    marker = venv / _MARKER
    python = python_path(venv)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not install:
        print(
            f"[bench] {venv} is missing or stale and --no-install was given: skipping 'published'"
        )
        return None
    print(
        f"[bench] creating {venv} (published {PUBLISHED_REQUIREMENT}, pinned stack) ...",
        flush=True,
    )
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            check=True,
            capture_output=True,
            text=True,
        )
        command = [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        print(f"[bench] $ {' '.join(command)} {' '.join(requirements())}", flush=True)
        subprocess.run(
            [*command, *requirements()], check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        tail = " | ".join((exc.stderr or "").strip().splitlines()[-5:])
        print(
            f"[bench] could not prepare {venv}: exit {exc.returncode}: {tail}; skipping 'published'"
        )
        return None
    except OSError as exc:
        print(f"[bench] could not prepare {venv}: {exc}; skipping 'published'")
        return None
    marker.write_text(wanted)
    return python
