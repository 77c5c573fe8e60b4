"""The Docker image, built and run for real on a private engine (``make docker-test``).

The Dockerfile is built ``FROM`` a stand-in for the official Python image made from Debian's
packages (tests/docker/base_image.py), with the classic builder and ``--network host``.
Containers run with ``--network host``, ``-e HOST=127.0.0.1 -e PORT=<free port>`` and a named
volume, so everything stays on the loopback. Checked: the image's own HEALTHCHECK turns
``healthy`` on that port, an order placed through the container confirms, ``docker stop``
exits 0 within the shutdown timeout, a second container on the same volume still has the
order, and the server runs as uid 10001. The image size and build time are printed.

SLOW: about 1-2 minutes in all (the build installs the locked dependencies from the registry).
Outside CI a machine where the engine cannot start skips with the reason; in CI (``CI`` set)
that fails instead.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.docker.base_image import build_standin
from tests.docker.conftest import FIGURES
from tests.docker.engine import Engine, EngineUnavailableError, private_engine
from tests.e2e.server import free_port

# The first test waits for the build (and, the first time, debootstrap): past the usual 60 s.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "fastapi-tasks-demo:docker-test"
UID = "10001"
SHUTDOWN_TIMEOUT_S = float(Settings.model_fields["shutdown_timeout_s"].default)
HEALTHY_DEADLINE_S = 60.0
PUBLIC_BASE_URL = "http://localhost:9000"
SETTLE_DEADLINE_S = 15.0


@dataclass(frozen=True)
class Container:
    name: str
    base_url: str


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    try:
        with private_engine() as running:
            yield running
    except EngineUnavailableError as error:
        if os.environ.get("CI"):
            pytest.fail(f"the Docker engine is required in CI: {error}", pytrace=False)
        pytest.skip(f"no Docker engine here: {error}")


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    """SLOW: the stand-in base (cached tree), then ``docker build`` of the repository."""
    try:
        base = build_standin(engine)
    except EngineUnavailableError as error:
        if os.environ.get("CI"):
            pytest.fail(f"cannot make the base image in CI: {error}", pytrace=False)
        pytest.skip(f"cannot make the base image here: {error}")
    started = time.monotonic()
    engine.run(
        "build",
        "--network",
        "host",
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=600,
    )
    build_s = time.monotonic() - started
    size = int(engine.inspect(IMAGE, "{{.Size}}"))
    base_size = int(engine.inspect(base, "{{.Size}}"))
    FIGURES.append(
        f"built in {build_s:.0f} s; {size / 1e6:.0f} MB, of which "
        f"{(size - base_size) / 1e6:.0f} MB above the base image "
        f"(a Debian stand-in of {base_size / 1e6:.0f} MB)"
    )
    return IMAGE


@pytest.fixture(scope="module")
def volume(engine: Engine) -> str:
    name = f"ftd-data-{uuid.uuid4().hex[:8]}"
    engine.run("volume", "create", name)
    return name


def start(engine: Engine, image: str, volume: str, *env: str) -> Container:
    """``docker run`` on a free loopback port; returns once the image's HEALTHCHECK is healthy."""
    port = free_port()
    name = f"ftd-{uuid.uuid4().hex[:8]}"
    engine.run(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        "--env",
        f"PORT={port}",
        "--env",
        "HOST=127.0.0.1",
        *(f"--env={pair}" for pair in env),
        "--volume",
        f"{volume}:/app/data",
        # The image's check, asked every second instead of every 30 (same command).
        "--health-interval",
        "1s",
        image,
    )
    deadline = time.monotonic() + HEALTHY_DEADLINE_S
    while True:
        state = engine.inspect(name, "{{.State.Status}} {{.State.Health.Status}}")
        if state == "running healthy":
            return Container(name=name, base_url=f"http://127.0.0.1:{port}")
        if not state.startswith("running") or time.monotonic() > deadline:
            logs = engine.run("logs", name, check=False)
            pytest.fail(
                f"container {state!r} after {HEALTHY_DEADLINE_S:.0f} s at most:\n"
                f"{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            )
        time.sleep(0.2)  # polling the health status with a deadline


@pytest.fixture(scope="module")
def first(engine: Engine, image: str, volume: str) -> Iterator[Container]:
    container = start(engine, image, volume)
    yield container
    engine.run("rm", "--force", container.name, check=False)


@pytest.fixture(scope="module")
def order_id(first: Container) -> int:
    """An order placed through the first container, settled."""
    with httpx.Client(base_url=first.base_url, timeout=10.0) as client:
        keyboard = client.get("/products").json()[0]
        placed = client.post(
            "/orders",
            json={
                "user_id": 1,
                "email": "ada@example.com",
                "payment_token": "tok_visa",
                "items": [
                    {
                        "product_id": keyboard["product_id"],
                        "quantity": 1,
                        "price": keyboard["price"],
                    }
                ],
            },
        )
        assert placed.status_code == 202, placed.text
        number: int = placed.json()["order_id"]
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        while client.get(f"/orders/{number}").json()["status"] == "processing":
            assert time.monotonic() < deadline, "the order never settled"
            time.sleep(0.1)  # polling with a deadline
    return number


@dataclass(frozen=True)
class Stopped:
    exit_code: int
    seconds: float


@pytest.fixture(scope="module")
def stopped(engine: Engine, first: Container, order_id: int) -> Stopped:
    """``docker stop`` of the first container (SIGTERM; SIGKILL only past the grace time)."""
    grace = int(SHUTDOWN_TIMEOUT_S) + 15
    started = time.monotonic()
    engine.run("stop", "--time", str(grace), first.name, timeout=grace + 30)
    seconds = time.monotonic() - started
    exit_code = int(engine.inspect(first.name, "{{.State.ExitCode}}"))
    FIGURES.append(f"docker stop: exit {exit_code} after {seconds:.1f} s")
    return Stopped(exit_code=exit_code, seconds=seconds)


@pytest.fixture(scope="module")
def second(
    engine: Engine, image: str, volume: str, stopped: Stopped
) -> Iterator[Container]:
    # As the README says for `-p 9000:8000`: the links follow PUBLIC_BASE_URL.
    container = start(engine, image, volume, f"PUBLIC_BASE_URL={PUBLIC_BASE_URL}")
    yield container
    engine.run("rm", "--force", container.name, check=False)


def test_the_image_healthcheck_turns_healthy_on_the_port_given(
    engine: Engine, first: Container
) -> None:
    # start() waited for Docker's own verdict; the check it ran is the image's, on $PORT.
    check = engine.inspect(first.name, "{{json .Config.Healthcheck.Test}}")
    assert "os.environ.get('PORT'" in check, check
    assert httpx.get(f"{first.base_url}/health").json() == {"status": "ok"}


def test_the_server_runs_as_uid_10001(engine: Engine, first: Container) -> None:
    assert engine.inspect(first.name, "{{.Config.User}}").split(":")[0] == UID
    # PID 1 is the server itself (exec-form CMD), so it is the one that gets SIGTERM.
    status = engine.run("exec", first.name, "cat", "/proc/1/status").stdout
    uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uids.split()[1:] == [UID] * 4, uids
    cmdline = engine.run("exec", first.name, "cat", "/proc/1/cmdline").stdout
    assert "fastapi-tasks-demo" in cmdline


def test_the_image_carries_the_postgresql_driver(
    engine: Engine, first: Container
) -> None:
    # DATABASE_URL=postgresql+asyncpg://... (compose.yaml) needs asyncpg in the image.
    done = engine.run("exec", first.name, "python", "-c", "import asyncpg")
    assert done.returncode == 0, done.stderr


def test_an_order_placed_through_the_container_confirms(
    first: Container, order_id: int
) -> None:
    order = httpx.get(f"{first.base_url}/orders/{order_id}").json()
    assert (order["status"], order["payment_status"], order["inventory_status"]) == (
        "confirmed",
        "succeeded",
        "reserved",
    )


def verification_link(container: Container) -> str:
    """Register someone through the container; the link its e-mail carries."""
    address = f"docker-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=container.base_url, timeout=10.0) as client:
        registered = client.post(
            "/register",
            json={"email": address, "password": "correct horse battery", "name": "D"},
        )
        assert registered.status_code == 201, registered.text
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        while True:
            mails = [m for m in client.get("/demo/outbox").json() if m["to"] == address]
            if mails:
                break
            assert time.monotonic() < deadline, "no verification e-mail"
            time.sleep(0.1)  # polling with a deadline
    link: str = mails[0]["data"]["verification_url"]
    return link


def test_links_follow_the_port_given_with_e(first: Container) -> None:
    # -e PORT=... without PUBLIC_BASE_URL: the links point where the server listens.
    link = verification_link(first)
    assert link.startswith(f"{first.base_url}/verify?token="), "wrong link base"


def test_docker_stop_exits_0_within_the_shutdown_timeout(stopped: Stopped) -> None:
    assert stopped.exit_code == 0
    assert stopped.seconds < SHUTDOWN_TIMEOUT_S


def test_a_second_container_on_the_same_volume_has_the_order(
    second: Container, order_id: int
) -> None:
    order = httpx.get(f"{second.base_url}/orders/{order_id}")
    assert order.status_code == 200, order.text
    assert order.json()["status"] == "confirmed"


def test_links_follow_public_base_url_given_with_e(second: Container) -> None:
    link = verification_link(second)
    assert link.startswith(f"{PUBLIC_BASE_URL}/verify?token="), "wrong link base"
