"""The e-mail tasks, their retries (library config) and their error handler."""

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from app.clients._base import RequestRejectedError
from app.clients.alerts import AlertClient
from app.clients.email_service import EmailServiceClient
from app.config import Settings
from app.mocks import FakeServices, build_router
from app.users.task_error_handlers import (
    describe_failure,
    on_verification_email_failed,
)
from app.users.tasks import send_verification_email, send_welcome_email
from fastapi_tasks import Task, TaskState, get_registry
from fastapi_tasks.testing import wait_for_tasks

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
ADDRESS = "ada@example.com"


@pytest.fixture
async def http(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeServices]]:
    fake_services = FakeServices()
    transport = httpx.MockTransport(build_router(fake_services, settings).async_handler)
    async with httpx.AsyncClient(transport=transport) as client:
        yield client, fake_services


def tasks_named(app: FastAPI, name: str) -> list[Task]:
    registry = get_registry(app)
    return [task for task in [*registry.recent, *registry.running] if task.name == name]


def email_calls(fakes: FakeServices, template: str) -> list[Any]:
    return [
        call for call in fakes.calls_to("email") if call.body["template"] == template
    ]


async def register(client: httpx.AsyncClient, app: FastAPI) -> httpx.Response:
    body = {"email": ADDRESS, "password": PASSWORD, "name": "Ada"}
    return await client.post(app.url_path_for("register_user"), json=body)


# --- the task functions ----------------------------------------------------------


async def test_send_verification_email_posts_the_seed_shape(
    http: tuple[httpx.AsyncClient, FakeServices], settings: Settings
) -> None:
    client, fakes = http
    email = EmailServiceClient(client, settings.email_service)

    await send_verification_email(
        email=email, to=ADDRESS, name="Ada", verification_url="http://x/verify?token=t"
    )

    [call] = fakes.calls_to("email")
    assert call.body == {
        "to": ADDRESS,
        "subject": "Verify your email",
        "template": "email_verification",
        "data": {"name": "Ada", "verification_url": "http://x/verify?token=t"},
    }


async def test_an_unavailable_service_raises_a_retryable_error(
    http: tuple[httpx.AsyncClient, FakeServices], settings: Settings
) -> None:
    client, fakes = http
    fakes.set_faults(email="down")
    email = EmailServiceClient(client, settings.email_service)

    with pytest.raises(httpx.HTTPStatusError):
        await send_welcome_email(email=email, to=ADDRESS, name="Ada")


async def test_a_refused_message_raises_a_non_retryable_error(
    settings: Settings,
) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(400, json={}))
    async with httpx.AsyncClient(transport=transport) as client:
        email = EmailServiceClient(client, settings.email_service)

        with pytest.raises(RequestRejectedError) as caught:
            await send_welcome_email(email=email, to=ADDRESS, name="Ada")

    assert caught.value.status_code == 400
    assert ADDRESS not in str(caught.value)


@pytest.mark.parametrize("code", [408, 429, 500, 503])
async def test_transient_statuses_stay_retryable(settings: Settings, code: int) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(code, json={}))
    async with httpx.AsyncClient(transport=transport) as client:
        email = EmailServiceClient(client, settings.email_service)

        with pytest.raises(httpx.HTTPStatusError):
            await send_welcome_email(email=email, to=ADDRESS, name="Ada")


# --- the error handler -----------------------------------------------------------


class FailedTask:
    """Just what the handler reads from a task."""

    name = "users.send_verification_email"
    attempts = 4


async def test_handler_sends_one_alert_with_ids_only(
    http: tuple[httpx.AsyncClient, FakeServices], settings: Settings
) -> None:
    client, fakes = http
    alerts = AlertClient(client, settings.alerts)
    error = httpx.HTTPStatusError(
        "boom", request=httpx.Request("POST", "https://e"), response=httpx.Response(503)
    )

    await on_verification_email_failed(
        FailedTask(),  # type: ignore[arg-type]
        error,
        user_id=7,
        alerts=alerts,
    )

    [call] = fakes.calls_to("alerts")
    assert "user 7" in call.body["text"]
    assert "4 attempts" in call.body["text"]
    assert "HTTP 503" in call.body["text"]


async def test_handler_never_raises_when_the_alert_webhook_is_down(
    http: tuple[httpx.AsyncClient, FakeServices],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, fakes = http
    fakes.set_faults(alerts="down")
    alerts = AlertClient(client, settings.alerts)

    await on_verification_email_failed(
        FailedTask(),  # type: ignore[arg-type]
        RuntimeError("x"),
        user_id=7,
        alerts=alerts,
    )

    assert "alert about user 7 was not delivered" in caplog.text


def test_describe_failure_names_types_not_messages() -> None:
    assert describe_failure(RuntimeError("secret@example.com")) == "RuntimeError"


# --- retries, through the app ----------------------------------------------------


async def test_email_outage_makes_4_attempts_then_one_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    fakes.set_faults(email="down")

    response = await register(client, app)

    assert response.status_code == 201  # the outage never reaches the user
    await wait_for_tasks(app, timeout=5)
    assert len(email_calls(fakes, "email_verification")) == 4  # 1 + 3 retries
    assert all(call.status == 503 for call in fakes.calls_to("email"))
    [alert] = fakes.calls_to("alerts")
    user_id = response.json()["user_id"]
    assert f"user {user_id}" in alert.body["text"]
    [task] = tasks_named(app, "users.send_verification_email")
    assert task.state == TaskState.FAILED
    assert task.attempts == 4


async def test_a_flaky_service_gets_the_email_through_without_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    fakes.set_faults(email="flaky")  # every other call fails

    assert (await register(client, app)).status_code == 201

    await wait_for_tasks(app, timeout=5)
    [task] = tasks_named(app, "users.send_verification_email")
    assert task.state == TaskState.SUCCEEDED
    assert task.attempts <= 2
    assert [mail["to"] for mail in fakes.outbox] == [ADDRESS]
    assert fakes.calls_to("alerts") == []


async def test_welcome_email_outage_retries_without_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    await register(client, app)
    await wait_for_tasks(app, timeout=5)
    url = next(iter(fakes.outbox))["data"]["verification_url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    fakes.set_faults(email="down")

    response = await client.post("/verify", params={"token": token})

    assert response.status_code == 200
    await wait_for_tasks(app, timeout=5)
    assert len(email_calls(fakes, "welcome")) == 4
    assert fakes.calls_to("alerts") == []


async def test_no_password_token_or_address_reaches_the_logs(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG for our code and the task library; third parties at the service's INFO.
    caplog.set_level(logging.INFO)
    for name in ("app", "fastapi_tasks"):
        caplog.set_level(logging.DEBUG, logger=name)
    fakes.set_faults(email="flaky")
    await register(client, app)
    await wait_for_tasks(app, timeout=5)
    url = next(iter(fakes.outbox))["data"]["verification_url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    fakes.set_faults(email="down")
    await client.post("/verify", params={"token": token})
    await client.post("/verify", params={"token": token})
    await client.post(
        app.url_path_for("register_user"),
        json={"email": "x@example.com", "password": "é" * 37, "name": "X"},
    )
    await wait_for_tasks(app, timeout=5)

    # Lines about the test's own requests to the app are the client's, not the service's.
    records = [r for r in caplog.records if "http://test/" not in r.getMessage()]
    assert any(
        r.name.startswith("fastapi_tasks") for r in records
    )  # failures logged...
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in records
    )
    for secret in (PASSWORD, token, ADDRESS, "é" * 37):
        assert secret not in logged  # ...without a secret
