"""The users' e-mails through the outbox: attempts, one alert, survival across a restart,
the link scrubbed once delivered, no secret in any log line."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from app.clients._base import RequestRejectedError
from app.clients.email_service import EmailServiceClient
from app.config import Settings
from app.db import SessionFactory
from app.main import create_app
from app.mocks import FakeServices, build_router
from app.outbox.delivery import Outbox
from app.outbox.models import OutboxMessage
from app.outbox.service import SCRUBBED
from fastapi_tasks import Task, TaskState, get_registry
from fastapi_tasks.testing import wait_for_tasks
from tests.polling import poll

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
ADDRESS = "ada@example.com"
# The seed's budget: the first attempt and 3 retries, then one alert. (The outbox's
# default may allow the sweeper further attempts; these tests pin the seed's number.)
SEED_ATTEMPTS = pytest.mark.parametrize(
    "settings_overrides", [{"outbox_max_attempts": 4}]
)


def tasks_named(app: FastAPI, name: str) -> list[Task]:
    registry = get_registry(app)
    return [task for task in [*registry.recent, *registry.running] if task.name == name]


def email_calls(fakes: FakeServices, template: str) -> list[Any]:
    return [
        call for call in fakes.calls_to("email") if call.body["template"] == template
    ]


def token_in(mail: dict[str, Any]) -> str:
    url: str = mail["data"]["verification_url"]
    return parse_qs(urlsplit(url).query)["token"][0]


async def register(client: httpx.AsyncClient, app: FastAPI) -> int:
    body = {"email": ADDRESS, "password": PASSWORD, "name": "Ada"}
    response = await client.post(app.url_path_for("register_user"), json=body)
    assert response.status_code == 201  # an e-mail outage never reaches the user
    user_id: int = response.json()["user_id"]
    return user_id


async def notifications(
    client: httpx.AsyncClient, app: FastAPI, user_id: int
) -> list[dict[str, Any]]:
    path = app.url_path_for("get_user", user_id=str(user_id))
    found: list[dict[str, Any]] = (await client.get(path)).json()["notifications"]
    return found


async def recorded_sent(client: httpx.AsyncClient, app: FastAPI, user_id: int) -> bool:
    """Whether the user's e-mails are all recorded as sent (not only accepted)."""
    found = await notifications(client, app, user_id)
    return bool(found) and all(n["status"] == "sent" for n in found)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started (migrations, sweeper) and a client for it; stopped on exit."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as http,
    ):
        yield http


# --- attempts and alerts ----------------------------------------------------------


@SEED_ATTEMPTS
async def test_email_outage_makes_4_attempts_then_one_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    fakes.set_faults(email="down")

    user_id = await register(client, app)

    await wait_for_tasks(app, timeout=5)
    assert len(email_calls(fakes, "email_verification")) == 4  # 1 + 3 retries
    assert all(call.status == 503 for call in fakes.calls_to("email"))
    assert len(fakes.calls_to("alerts")) == 1
    email, alert = await notifications(client, app, user_id)
    assert (email["topic"], email["status"], email["attempts"]) == (
        "email_verification",
        "failed",
        4,
    )
    assert email["last_error"] == "HTTPStatusError (HTTP 503)"
    assert (alert["kind"], alert["status"]) == ("alert", "sent")
    [task] = tasks_named(app, "users.send_verification_email")
    assert task.state == TaskState.FAILED
    assert task.attempts == 4


async def test_a_flaky_service_gets_the_email_through_without_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    fakes.set_faults(email="flaky")  # every other call fails

    user_id = await register(client, app)

    await wait_for_tasks(app, timeout=5)
    [task] = tasks_named(app, "users.send_verification_email")
    assert task.state == TaskState.SUCCEEDED
    assert [mail["to"] for mail in fakes.outbox] == [ADDRESS]
    assert fakes.calls_to("alerts") == []
    [email] = await notifications(client, app, user_id)
    assert (email["status"], email["attempts"]) == ("sent", 2)


@SEED_ATTEMPTS
async def test_welcome_email_outage_makes_4_attempts_then_one_alert(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    user_id = await register(client, app)
    await wait_for_tasks(app, timeout=5)
    token = token_in(fakes.outbox[0])
    fakes.set_faults(email="down")

    response = await client.post("/verify", params={"token": token})

    assert response.status_code == 200
    await wait_for_tasks(app, timeout=5)
    assert len(email_calls(fakes, "welcome")) == 4
    assert len(fakes.calls_to("alerts")) == 1
    topics = [
        (n["topic"], n["status"]) for n in await notifications(client, app, user_id)
    ]
    assert topics == [
        ("email_verification", "sent"),
        ("welcome", "failed"),
        ("alert", "sent"),
    ]


# --- what survives the process ----------------------------------------------------


async def test_the_email_is_committed_with_the_user_and_sent_after_a_restart(
    app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def task_died(self: Outbox, **_: Any) -> int:
        return 0  # as if the process stopped before the delivery task ran

    with monkeypatch.context() as patch:
        patch.setattr(Outbox, "deliver_pending", task_died)
        async with running(app) as client:
            user_id = await register(client, app)
            await wait_for_tasks(app, timeout=5)
            [email] = await notifications(client, app, user_id)
            assert (email["status"], email["attempts"]) == ("pending", 0)
        assert app.state.fakes.outbox == []

    restarted = create_app(settings)  # same database and fakes' files
    async with running(restarted) as client:
        # The sweeper delivers, at startup, every row a dead process left pending.
        await poll(partial(recorded_sent, client, restarted, user_id))
        [mail] = restarted.state.fakes.outbox
        assert (mail["to"], mail["template"]) == (ADDRESS, "email_verification")
        verified = await client.post("/verify", params={"token": token_in(mail)})
        assert verified.status_code == 200
        await wait_for_tasks(restarted, timeout=5)


async def test_an_email_retrying_at_shutdown_is_sent_after_the_restart(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A minute between attempts: the task is surely waiting when the process stops.
    slow = settings.model_copy(update={"email_retry_delay_s": 60.0})
    app = create_app(slow)
    fakes: FakeServices = app.state.fakes
    fakes.set_faults(email="down")
    first_attempt_over = anyio.Event()
    real_deliver = Outbox.deliver_pending

    async def deliver_then_tell(self: Outbox, **kwargs: Any) -> int:
        try:
            return await real_deliver(self, **kwargs)
        finally:
            # Recorded and its session closed; the task goes straight to its back-off.
            first_attempt_over.set()

    with monkeypatch.context() as patch:
        patch.setattr(Outbox, "deliver_pending", deliver_then_tell)
        async with running(app) as client:
            user_id = await register(client, app)
            with anyio.fail_after(5):
                await first_attempt_over.wait()
    # Shutdown cancelled the waiting task (it is not shielded): the row is still pending.
    [task] = tasks_named(app, "users.send_verification_email")
    assert task.state == TaskState.CANCELLED
    fakes.set_faults(email="ok")

    restarted = create_app(slow)
    async with running(restarted) as client:
        await poll(partial(recorded_sent, client, restarted, user_id))
    [mail] = fakes.outbox
    assert (mail["to"], mail["template"]) == (ADDRESS, "email_verification")
    assert [call.status for call in fakes.calls_to("email")] == [503, 202]


async def test_a_sent_link_is_scrubbed_from_the_outbox_row(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    user_id = await register(client, app)

    await wait_for_tasks(app, timeout=5)

    token = token_in(fakes.outbox[0])
    async with app_sessions() as session:
        [row] = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.subject_id == user_id)
        )
    assert row.payload["data"] == {"name": "Ada", "verification_url": SCRUBBED}
    assert token not in str(row.payload)


# --- logs -------------------------------------------------------------------------


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
    token = token_in(fakes.outbox[0])
    fakes.set_faults(email="down")
    await client.post("/verify", params={"token": token})
    await client.post("/verify", params={"token": token})
    await client.post(app.url_path_for("resend_verification"), json={"email": ADDRESS})
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
    assert any(r.name.startswith("app.outbox") for r in records)
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in records
    )
    for secret in (PASSWORD, token, ADDRESS, "é" * 37):
        assert secret not in logged  # ...without a secret


# --- the e-mail client's answers decide what is retried ----------------------------


@pytest.fixture
def private_fakes() -> FakeServices:
    """Fake services of no app (in memory)."""
    return FakeServices()


@pytest.fixture
async def email(
    settings: Settings, private_fakes: FakeServices
) -> AsyncIterator[EmailServiceClient]:
    """An e-mail client talking to ``private_fakes``."""
    transport = httpx.MockTransport(build_router(private_fakes, settings).async_handler)
    async with httpx.AsyncClient(transport=transport) as http:
        yield EmailServiceClient(http, settings.email_service)


async def test_an_unavailable_service_raises_a_retryable_error(
    email: EmailServiceClient, private_fakes: FakeServices
) -> None:
    private_fakes.set_faults(email="down")

    with pytest.raises(httpx.HTTPStatusError):
        await email.send(to=ADDRESS, subject="s", template="welcome", data={})


async def test_a_refused_message_raises_a_non_retryable_error(
    settings: Settings,
) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(400, json={}))
    async with httpx.AsyncClient(transport=transport) as http:
        email = EmailServiceClient(http, settings.email_service)

        with pytest.raises(RequestRejectedError) as caught:
            await email.send(to=ADDRESS, subject="s", template="welcome", data={})

    assert caught.value.status_code == 400
    assert ADDRESS not in str(caught.value)


@pytest.mark.parametrize("code", [408, 429, 500, 503])
async def test_transient_statuses_stay_retryable(settings: Settings, code: int) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(code, json={}))
    async with httpx.AsyncClient(transport=transport) as http:
        email = EmailServiceClient(http, settings.email_service)

        with pytest.raises(httpx.HTTPStatusError):
            await email.send(to=ADDRESS, subject="s", template="welcome", data={})
