"""The app's edges: health, JSON errors everywhere, /demo in mock mode only, no secrets shown."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from app.cli import link_base_url
from app.config import ServiceConfig, Settings
from app.main import create_app
from app.mocks import FakeServices
from fastapi_tasks.testing import wait_for_tasks
from tests.orders.helpers import an_order_payload

pytestmark = pytest.mark.anyio


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"


async def test_unknown_path_is_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_malformed_json_is_422_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/orders",
        content=b'{"user_id": 1,',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/orders", "application/json", b"[\xd0d"),  # not UTF-8
        ("/track", "application/json", b"[\xd0d"),
        ("/register", "application/json", b"[\xd0d"),
        (
            "/upload-image?user_id=1",
            "multipart/form-data; boundary=b",
            b"--b\r\n-1--b--\r\n",
        ),
    ],
)
async def test_an_unreadable_body_is_a_documented_400_json(
    app: FastAPI,
    client: httpx.AsyncClient,
    path: str,
    content_type: str,
    body: bytes,
) -> None:
    response = await client.post(
        path, content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    # found by the schemathesis contract run: the 400 was missing from the schema
    operation = app.openapi()["paths"][path.split("?")[0]]["post"]
    assert "400" in operation["responses"]


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    response = await client.delete("/products")

    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_unexpected_error_is_500_json_not_html(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/explode", explode)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://test",
        ) as http,
    ):
        response = await http.get("/explode")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Internal server error; the error was logged"}


@pytest.fixture
async def live_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    live = create_app(settings.model_copy(update={"mode": "live"}))
    async with (
        LifespanManager(live) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as http,
    ):
        yield http


@pytest.mark.parametrize(
    "path", ["/demo/outbox", "/demo/calls", "/demo/faults", "/demo/tasks"]
)
async def test_demo_endpoints_exist_only_in_mock_mode(
    client: httpx.AsyncClient, live_client: httpx.AsyncClient, path: str
) -> None:
    assert (await client.get(path)).status_code == 200
    assert (await live_client.get(path)).status_code == 404


async def test_faults_are_validated_and_applied(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    bad_value = await client.put("/demo/faults", json={"payment": "explode"})
    bad_service = await client.put("/demo/faults", json={"printer": "down"})
    good = await client.put(
        "/demo/faults", json={"payment": "decline", "email": "flaky"}
    )

    assert bad_value.status_code == 422
    assert bad_service.status_code == 422
    assert good.status_code == 200
    assert good.json() == {
        "payment": "decline",
        "email": "flaky",
        "cdn": "ok",
        "warehouse": "ok",
        "analytics": "ok",
        "alerts": "ok",
    }
    assert (await client.get("/demo/faults")).json() == good.json()
    assert fakes.faults.payment == "decline"


@pytest.fixture
def settings_with_keys(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "payment_gateway": ServiceConfig(
                base_url="https://payments.mock", api_key=SecretStr("sk_live_topsecret")
            )
        }
    )


async def test_secrets_are_redacted_in_calls_and_absent_from_logs(
    settings_with_keys: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(settings_with_keys)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as http,
    ):
        await http.post(
            "/orders", json=an_order_payload(payment_token="tok_secret_4242")
        )
        await http.post("/orders", json=an_order_payload(payment_token="tok_declined"))
        await wait_for_tasks(app, timeout=5)
        calls = await http.get("/demo/calls", params={"service": "payment"})
        everything = await http.get("/demo/calls")
        tasks = await http.get("/demo/tasks")

    assert [call["body"]["token"] for call in calls.json()] == ["***redacted***"] * 2
    for text in (everything.text, tasks.text, caplog.text):
        assert "tok_secret_4242" not in text
        assert "sk_live_topsecret" not in text


async def test_calls_filter_by_service_and_reject_unknown_ones(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.post("/orders", json=an_order_payload())
    await wait_for_tasks(app, timeout=5)

    emails = (await client.get("/demo/calls", params={"service": "email"})).json()
    unknown = await client.get("/demo/calls", params={"service": "printer"})

    assert [call["service"] for call in emails] == ["email"]
    assert set(emails[0]) == {
        "service",
        "method",
        "url",
        "status",
        "headers",
        "body",
        "at",
    }
    assert unknown.status_code == 422


async def test_demo_tasks_lists_newest_first_without_arguments(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.post("/orders", json=an_order_payload(payment_token="tok_in_args"))
    await wait_for_tasks(app, timeout=5)

    response = await client.get("/demo/tasks")

    tasks = response.json()
    names = [task["name"] for task in tasks if task["name"].startswith("orders.")]
    assert names[-1] == "orders.charge_payment"
    assert names[0] == "orders.track_order_created"
    charge = next(t for t in tasks if t["name"] == "orders.charge_payment")
    assert charge["mode"] == "immediate"
    assert charge["state"] == "succeeded"
    assert charge["attempts"] == 1
    assert charge["route"] == "POST /orders"
    assert {"scheduled_at", "started_at", "finished_at", "error", "request_id"} <= set(
        charge
    )
    assert "tok_in_args" not in response.text


async def test_outbox_shows_accepted_emails(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.post("/orders", json=an_order_payload())
    await wait_for_tasks(app, timeout=5)

    [mail] = (await client.get("/demo/outbox")).json()

    assert set(mail) == {
        "to",
        "subject",
        "template",
        "data",
        "sent_at",
        "idempotency_key",
    }
    assert mail["to"] == "ada@example.com"


async def test_outbox_and_calls_can_return_only_the_newest(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await client.post("/orders", json=an_order_payload())
    await wait_for_tasks(app, timeout=5)
    every_call = (await client.get("/demo/calls")).json()
    every_mail = (await client.get("/demo/outbox")).json()

    calls = await client.get("/demo/calls", params={"limit": 2})
    mails = await client.get("/demo/outbox", params={"limit": 1})

    assert calls.json() == every_call[-2:]  # the newest two, still oldest first
    assert calls.headers["x-total-count"] == str(len(every_call))
    assert mails.json() == every_mail[-1:]
    assert mails.headers["x-total-count"] == "3"
    assert (await client.get("/demo/calls", params={"limit": 0})).status_code == 422


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),
        ("::1", 8001, "http://[::1]:8001"),
    ],
)
def test_serve_points_links_at_the_port_it_listens_on(
    host: str, port: int, expected: str
) -> None:
    assert link_base_url(host, port) == expected
