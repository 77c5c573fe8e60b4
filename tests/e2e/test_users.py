"""Registration and verification against the real server (uvicorn on 127.0.0.1)."""

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from tests.databases import execute
from tests.e2e.server import ServerProcess, running_server
from tests.polling import poll

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PASSWORD = "correct horse battery"
VERIFIED = {"message": "Email verified successfully"}
BAD_TOKEN = {"detail": "Invalid or expired token"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"BCRYPT_ROUNDS": "4", "EMAIL_RETRY_DELAY_S": "0.01"}
    with running_server(tmp_path_factory.mktemp("users-e2e"), env=env) as running:
        yield running


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        yield client
        # Each test leaves the fake e-mail service working for the next one.
        await client.put("/demo/faults", json={"email": "ok", "alerts": "ok"})


async def register(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, name: str = "Ada"
) -> httpx.Response:
    return await http.post(
        "/register", json={"email": email, "password": password, "name": name}
    )


async def mails_to(
    http: httpx.AsyncClient, address: str, template: str
) -> list[dict[str, Any]]:
    outbox = (await http.get("/demo/outbox")).json()
    return [m for m in outbox if m["to"] == address and m["template"] == template]


async def token_for(http: httpx.AsyncClient, address: str) -> str:
    """The token of the verification link e-mailed to ``address`` (waits for it)."""

    async def sent() -> list[dict[str, Any]]:
        return await mails_to(http, address, "email_verification")

    [mail] = await poll(sent)
    url: str = mail["data"]["verification_url"]
    # PUBLIC_BASE_URL is unset, so `serve` points links at the port it listens on.
    base = str(http.base_url).rstrip("/")
    assert url.startswith(f"{base}/verify?token="), url
    return parse_qs(urlsplit(url).query)["token"][0]


async def email_calls(http: httpx.AsyncClient, address: str) -> list[dict[str, Any]]:
    calls = (await http.get("/demo/calls", params={"service": "email"})).json()
    return [call for call in calls if (call["body"] or {}).get("to") == address]


async def alerts_about(http: httpx.AsyncClient, user_id: int) -> list[dict[str, Any]]:
    calls = (await http.get("/demo/calls", params={"service": "alerts"})).json()
    about = re.compile(rf"\buser {user_id}\b")
    return [call for call in calls if about.search(call["body"]["text"])]


async def latest_verification_task(http: httpx.AsyncClient) -> dict[str, Any]:
    """The most recently scheduled verification e-mail task (the list is newest first)."""
    tasks = (await http.get("/demo/tasks")).json()
    task: dict[str, Any] = next(
        task for task in tasks if task["name"] == "users.send_verification_email"
    )
    return task


async def test_register_verify_and_welcome(
    http: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await register(http, "ada@example.com")
    assert response.status_code == 201
    user_id = response.json()["user_id"]
    user = (await http.get(f"/users/{user_id}")).json()
    [promised] = user.pop("notifications")
    assert (promised["kind"], promised["topic"]) == ("email", "email_verification")
    assert user == {
        "user_id": user_id,
        "email": "ada@example.com",
        "name": "Ada",
        "verified": False,
    }

    token = await token_for(http, "ada@example.com")
    response = await http.post("/verify", params={"token": token})

    assert response.status_code == 200
    assert response.json() == VERIFIED
    assert (await http.get(f"/users/{user_id}")).json()["verified"] is True

    async def welcomed() -> list[dict[str, Any]]:
        return await mails_to(http, "ada@example.com", "welcome")

    [welcome] = await poll(welcomed)
    assert welcome["subject"] == "Welcome to Our App!"
    assert welcome["data"] == {"name": "Ada"}
    # The server never logged the password or the token (the access log masks it).
    output = server.output()
    assert "POST /verify?token=" in output  # the access-log line is there, masked
    assert PASSWORD not in output
    assert token not in output


async def test_duplicate_address_in_another_case_is_409(
    http: httpx.AsyncClient,
) -> None:
    assert (await register(http, "grace@example.com")).status_code == 201

    response = await register(http, "Grace@EXAMPLE.com")

    assert response.status_code == 409
    assert response.json() == {
        "detail": (
            "An account with this e-mail address already exists; "
            "if it is not verified, POST /verification/resend sends a new link"
        )
    }


async def test_concurrent_registrations_of_one_address_one_wins(
    http: httpx.AsyncClient,
) -> None:
    statuses: list[int] = []

    async def attempt(address: str) -> None:
        statuses.append((await register(http, address)).status_code)

    async with anyio.create_task_group() as group:
        for address in ["race@example.com", "Race@example.com", "RACE@example.com"]:
            group.start_soon(attempt, address)

    assert sorted(statuses) == [201, 409, 409]


@pytest.mark.parametrize(
    "password", ["short12", "x" * 73, "é" * 37], ids=["7-chars", "73-bytes", "37xé"]
)
async def test_bad_passwords_are_422_and_never_echoed(
    http: httpx.AsyncClient, password: str
) -> None:
    response = await register(http, "weak@example.com", password=password)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "password"]]
    assert password not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "password": PASSWORD, "name": "A"}, "email"),
        ({"email": "blank@example.com", "password": PASSWORD, "name": " "}, "name"),
    ],
)
async def test_bad_address_or_blank_name_is_422(
    http: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await http.post("/register", json=body)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


async def test_unknown_and_used_tokens_are_400(http: httpx.AsyncClient) -> None:
    assert (await register(http, "once@example.com")).status_code == 201
    token = await token_for(http, "once@example.com")
    assert (await http.post("/verify", params={"token": token})).status_code == 200

    used = await http.post("/verify", params={"token": token})
    unknown = await http.post("/verify", params={"token": "not-a-token"})

    assert (used.status_code, used.json()) == (400, BAD_TOKEN)
    assert (unknown.status_code, unknown.json()) == (400, BAD_TOKEN)
    assert (await http.post("/verify")).status_code == 422  # no token at all


async def test_expired_token_is_400(
    http: httpx.AsyncClient, server: ServerProcess
) -> None:
    response = await register(http, "late@example.com")
    user_id = response.json()["user_id"]
    token = await token_for(http, "late@example.com")
    # Age the link past its validity in the server's own database file.
    expire_tokens_of(server, user_id)

    response = await http.post("/verify", params={"token": token})

    assert (response.status_code, response.json()) == (400, BAD_TOKEN)
    assert (await http.get(f"/users/{user_id}")).json()["verified"] is False


async def test_unknown_user_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/users/987654")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "User not found"},
    )


async def test_email_outage_still_registers_then_retries_and_alerts_once(
    http: httpx.AsyncClient,
) -> None:
    await http.put("/demo/faults", json={"email": "down"})

    response = await register(http, "outage@example.com")

    assert response.status_code == 201
    user_id = response.json()["user_id"]

    async def alerted() -> list[dict[str, Any]]:
        return await alerts_about(http, user_id)

    [alert] = await poll(alerted)
    assert "4 attempt(s)" in alert["body"]["text"]

    # Once the task is over (on_error ran), no further attempt or alert can come.
    async def failed() -> bool:
        state: str = (await latest_verification_task(http))["state"]
        return state == "failed"

    await poll(failed)
    assert (await latest_verification_task(http))["attempts"] == 4
    calls = await email_calls(http, "outage@example.com")
    assert [call["status"] for call in calls] == [503, 503, 503, 503]
    assert len(await alerts_about(http, user_id)) == 1
    assert (await mails_to(http, "outage@example.com", "email_verification")) == []


async def test_flaky_email_service_delivers_without_alert(
    http: httpx.AsyncClient,
) -> None:
    await http.put("/demo/faults", json={"email": "flaky"})

    response = await register(http, "flaky@example.com")

    assert response.status_code == 201
    token = await token_for(http, "flaky@example.com")
    assert token
    # flaky fails each message's first attempt (per Idempotency-Key); the retry lands
    calls = await email_calls(http, "flaky@example.com")
    assert [call["status"] for call in calls] == [503, 202]
    assert await alerts_about(http, response.json()["user_id"]) == []


def expire_tokens_of(server: ServerProcess, user_id: int) -> None:
    execute(
        server.database_url,
        "UPDATE user_verification_token SET expires_at = '2000-01-01 00:00:00'"
        " WHERE user_id = :user_id",
        {"user_id": user_id},
    )


def server_data_dir(server: ServerProcess) -> Path:
    return server.log.parent
