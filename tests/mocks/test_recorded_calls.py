"""What /demo/calls keeps of a request: headers and body, every credential redacted."""

import sqlite3
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from app.config import ServiceConfig, Settings
from app.main import create_app
from app.mocks import FakeServices
from fastapi_tasks.testing import wait_for_tasks
from tests.mocks.helpers import ANALYTICS, PAYMENTS, a_charge, key
from tests.orders.helpers import an_order_payload

pytestmark = pytest.mark.anyio

REDACTED = "***redacted***"


async def test_secret_keys_are_redacted_at_any_depth_and_in_any_case(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    body = {
        "Token": "tok_top_level",
        "events": [
            {
                "event": "login",
                "properties": {"API_KEY": "ak_in_a_list", "Password": "pw_deep"},
            },
            {"event": "view", "properties": {"nested": {"Secret": "s_deeper"}}},
        ],
    }
    await http.post(f"{ANALYTICS}/batch", json=body)

    [call] = fakes.calls_to("analytics")
    assert call.body == {
        "Token": REDACTED,
        "events": [
            {
                "event": "login",
                "properties": {"API_KEY": REDACTED, "Password": REDACTED},
            },
            {"event": "view", "properties": {"nested": {"Secret": REDACTED}}},
        ],
    }


async def test_headers_are_recorded_with_credentials_redacted(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    headers = {
        "Authorization": "Bearer sk_live_header",
        "X-Api-Key": "ak_header",
        "Cookie": "session=c_header",
        **key("order-7"),
    }
    await http.post(f"{PAYMENTS}/charge", json=a_charge(7), headers=headers)

    [call] = fakes.calls_to("payment")
    assert call.headers["authorization"] == REDACTED
    assert call.headers["x-api-key"] == REDACTED
    assert call.headers["cookie"] == REDACTED
    # an id, not a credential: kept so that retries can be told apart
    assert call.headers["idempotency-key"] == "order-7"
    assert call.headers["content-type"] == "application/json"
    text = call.model_dump_json()
    for secret in ("sk_live_header", "ak_header", "c_header"):
        assert secret not in text


async def test_a_fakes_db_from_before_headers_were_recorded_still_records_calls(
    fakes_db: Path, http: httpx.AsyncClient
) -> None:
    fakes_db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(fakes_db) as db:
        db.execute(
            "CREATE TABLE call (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " service TEXT NOT NULL, method TEXT NOT NULL, url TEXT NOT NULL,"
            " status INTEGER, body TEXT NOT NULL, at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO call (service, method, url, status, body, at) VALUES"
            " ('email', 'POST', 'https://email.mock/send', 202, 'null',"
            " '2026-11-24T10:00:00+00:00')"
        )
    db.close()
    old = FakeServices(fakes_db)
    try:
        await http.post(f"{PAYMENTS}/charge", json=a_charge(1), headers=key("1"))
        calls = old.calls
    finally:
        old.close()

    assert [(c.service, c.headers.get("idempotency-key")) for c in calls] == [
        ("email", None),
        ("payment", "1"),
    ]


@pytest.fixture
def settings_with_key(settings: Settings) -> Settings:
    gateway = ServiceConfig(
        base_url="https://payments.mock", api_key=SecretStr("sk_live_in_the_header")
    )
    return settings.model_copy(update={"payment_gateway": gateway})


async def test_the_api_key_the_app_sends_is_absent_from_demo_calls(
    settings_with_key: Settings,
) -> None:
    app = create_app(settings_with_key)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        await client.post("/orders", json=an_order_payload())
        await wait_for_tasks(app, timeout=5)
        response = await client.get("/demo/calls", params={"service": "payment"})

    [charge] = response.json()
    # The header was sent and recorded: its absence below is redaction, not omission.
    assert charge["headers"]["authorization"] == REDACTED
    assert "sk_live_in_the_header" not in response.text
