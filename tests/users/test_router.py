"""Every status code of the users endpoints, through the whole app (fakes for e-mail).

The e-mails' retries, alerts and crash recovery are in test_emails.py.
"""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.analytics.tracking import EventTracker
from app.config import Settings
from app.db import make_engine, make_session_factory, utcnow
from app.mocks import FakeServices
from app.outbox.delivery import Outbox
from app.users.models import UserVerificationToken
from app.users.schemas import REGISTERED_MESSAGE
from fastapi_tasks.testing import wait_for_tasks
from tests.users.unicode_forms import full_width

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
TAKEN = (
    "An account with this e-mail address already exists; if it is not verified, "
    "POST /verification/resend sends a new link"
)


def a_registration(**changes: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "password": PASSWORD, "name": "Ada", **changes}


async def register(
    client: httpx.AsyncClient, app: FastAPI, **changes: Any
) -> httpx.Response:
    return await client.post(
        app.url_path_for("register_user"), json=a_registration(**changes)
    )


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``EventTracker.track`` call (delivery itself is the analytics tests' job)."""
    calls: list[dict[str, Any]] = []
    real_track = EventTracker.track

    async def recording_track(self: EventTracker, **kwargs: Any) -> None:
        calls.append(kwargs)
        await real_track(self, **kwargs)

    monkeypatch.setattr(EventTracker, "track", recording_track)
    return calls


def token_sent_to(fakes: FakeServices, address: str) -> str:
    [mail] = [
        mail
        for mail in fakes.outbox
        if mail["to"] == address and mail["template"] == "email_verification"
    ]
    url: str = mail["data"]["verification_url"]
    return parse_qs(urlsplit(url).query)["token"][0]


async def registered_token(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices, address: str
) -> str:
    response = await register(client, app, email=address)
    assert response.status_code == 201
    await wait_for_tasks(app, timeout=5)
    return token_sent_to(fakes, address)


async def verify(client: httpx.AsyncClient, app: FastAPI, token: str) -> httpx.Response:
    return await client.post(app.url_path_for("verify_email"), params={"token": token})


async def test_register_answers_201_and_sends_the_verification_email(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices, settings: Settings
) -> None:
    response = await register(client, app)

    assert response.status_code == 201
    body = response.json()
    assert body == {"user_id": body["user_id"], "message": REGISTERED_MESSAGE}
    assert isinstance(body["user_id"], int)
    await wait_for_tasks(app, timeout=5)
    [mail] = list(fakes.outbox)
    assert mail["to"] == "ada@example.com"
    assert mail["subject"] == "Verify your email"
    assert mail["template"] == "email_verification"
    assert mail["data"]["name"] == "Ada"
    url = mail["data"]["verification_url"]
    assert url.startswith(f"{settings.public_base_url}/verify?token=")
    assert len(token_sent_to(fakes, "ada@example.com")) == 43


async def test_registration_is_tracked_without_address_or_password(
    client: httpx.AsyncClient, app: FastAPI, tracked: list[dict[str, Any]]
) -> None:
    response = await register(client, app)
    await wait_for_tasks(app, timeout=5)

    sent = [call for call in tracked if call["event"] == "user_registered"]
    assert [event["user_id"] for event in sent] == [response.json()["user_id"]]
    assert "ada@example.com" not in str(sent)
    assert PASSWORD not in str(sent)


async def test_get_user_shows_an_unverified_user_and_the_email_sent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user_id = (await register(client, app, email="Ada@Example.com")).json()["user_id"]
    await wait_for_tasks(app, timeout=5)

    response = await client.get(app.url_path_for("get_user", user_id=str(user_id)))

    assert response.status_code == 200
    body = response.json()
    [email] = body.pop("notifications")
    assert body == {
        "user_id": user_id,
        "email": "Ada@example.com",
        "name": "Ada",
        "verified": False,
    }
    assert email == {
        "message_id": email["message_id"],
        "subject_type": "user",
        "subject_id": user_id,
        "kind": "email",
        "topic": "email_verification",
        "status": "sent",
        "attempts": 1,
        "created_at": email["created_at"],
        "sent_at": email["sent_at"],
        "last_error": None,
    }
    assert "verification_url" not in response.text  # never the payload


async def test_get_user_shows_a_pending_email_before_it_is_delivered(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = anyio.Event()

    async def held_delivery(self: Outbox, **_: Any) -> int:
        await held.wait()
        return 0

    monkeypatch.setattr(Outbox, "deliver_pending", held_delivery)
    user_id = (await register(client, app)).json()["user_id"]

    response = await client.get(app.url_path_for("get_user", user_id=str(user_id)))

    held.set()
    [email] = response.json()["notifications"]
    assert (email["topic"], email["status"], email["attempts"]) == (
        "email_verification",
        "pending",
        0,
    )
    assert email["sent_at"] is None


@pytest.mark.parametrize(
    "path", ["/users/999", "/users/0", "/users/-1", "/users/" + "9" * 30]
)
async def test_get_user_answers_404_for_unknown_ids(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


async def test_get_user_answers_422_for_a_non_numeric_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/users/ada")

    assert response.status_code == 422


async def test_verify_answers_200_marks_verified_and_welcomes(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    tracked: list[dict[str, Any]],
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")

    response = await verify(client, app, token)

    assert response.status_code == 200
    assert response.json() == {"message": "Email verified successfully"}
    await wait_for_tasks(app, timeout=5)
    user = (await client.get("/users/1")).json()
    assert user["verified"] is True
    welcomes = [mail for mail in fakes.outbox if mail["template"] == "welcome"]
    assert [(mail["to"], mail["subject"]) for mail in welcomes] == [
        ("ada@example.com", "Welcome to Our App!")
    ]
    assert [
        (call["user_id"], call["properties"])
        for call in tracked
        if call["event"] == "email_verified"
    ] == [(user["user_id"], {})]


@pytest.mark.parametrize(
    "second", ["ada@example.com", "ADA@example.com", "Ada@EXAMPLE.COM"]
)
async def test_register_answers_409_for_a_taken_address_in_any_case(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices, second: str
) -> None:
    assert (await register(client, app)).status_code == 201

    response = await register(client, app, email=second, name="Impostor")

    assert response.status_code == 409
    assert response.json() == {"detail": TAKEN}
    await wait_for_tasks(app, timeout=5)
    assert len(fakes.outbox) == 1  # no e-mail for the refused registration


async def test_register_409_reads_the_same_for_verified_and_unverified_accounts(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")
    assert (await verify(client, app, token)).status_code == 200
    assert (await register(client, app, email="grace@example.com")).status_code == 201

    verified = await register(client, app, email="ada@example.com")
    unverified = await register(client, app, email="grace@example.com")

    assert (verified.status_code, verified.json()) == (409, {"detail": TAKEN})
    assert (unverified.status_code, unverified.json()) == (409, {"detail": TAKEN})


@pytest.mark.usefixtures("hashing_waits_for_both")
async def test_concurrent_registrations_answer_one_201_and_one_409(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    statuses: list[int] = []

    async def attempt(address: str) -> None:
        statuses.append((await register(client, app, email=address)).status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(attempt, "race@example.com")
        group.start_soon(attempt, "RACE@example.com")

    assert sorted(statuses) == [201, 409]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "short12"}, "password"),
        ({"password": "x" * 73}, "password"),
        ({"password": "é" * 37}, "password"),  # 37 characters, 74 bytes
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "ada@localhost"}, "email"),
    ],
)
async def test_register_answers_422_for_invalid_input(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    changes: dict[str, Any],
    field: str,
) -> None:
    body = a_registration(**changes)

    response = await client.post(app.url_path_for("register_user"), json=body)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    # The rejected password is never echoed back.
    assert body["password"] not in response.text
    assert list(fakes.outbox) == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ada@example.com", "name": "Ada"},
        {"password": PASSWORD},
        [PASSWORD],
        PASSWORD,
        {"email": "ada@example.com", "password": 12345678, "name": "Ada"},
    ],
)
async def test_register_answers_422_without_echoing_malformed_bodies(
    client: httpx.AsyncClient, app: FastAPI, body: Any
) -> None:
    response = await client.post(app.url_path_for("register_user"), json=body)

    assert response.status_code == 422
    assert PASSWORD not in response.text
    assert "12345678" not in response.text


async def test_register_answers_422_for_json_with_lone_surrogates(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    raw = '{"email": "ada@example.com", "password": "abcdefgh\\ud800", "name": "A"}'

    response = await client.post(
        app.url_path_for("register_user"),
        content=raw,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert "abcdefgh" not in response.text


async def test_a_72_byte_password_is_accepted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await register(client, app, password="é" * 36)

    assert response.status_code == 201


async def test_verify_answers_400_for_an_unknown_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await verify(client, app, "not-a-token")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid or expired token"}


async def test_verify_answers_400_for_an_empty_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post("/verify?token=")

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid or expired token"}


async def test_verify_answers_422_without_a_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post(app.url_path_for("verify_email"))

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "token"]


async def test_verify_answers_400_for_a_used_token(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")
    assert (await verify(client, app, token)).status_code == 200

    response = await verify(client, app, token)

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid or expired token"}
    await wait_for_tasks(app, timeout=5)
    assert len([m for m in fakes.outbox if m["template"] == "welcome"]) == 1


async def test_verify_answers_400_for_an_expired_token(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices, settings: Settings
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            await session.execute(
                update(UserVerificationToken).values(expires_at=utcnow())
            )
            await session.commit()
    finally:
        await engine.dispose()

    response = await verify(client, app, token)

    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid or expired token"}
    assert (await client.get("/users/1")).json()["verified"] is False


async def test_concurrent_verifications_answer_one_200(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")
    statuses: list[int] = []

    async def attempt() -> None:
        statuses.append((await verify(client, app, token)).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(attempt)

    assert sorted(statuses) == [200, 400, 400, 400]
    await wait_for_tasks(app, timeout=5)
    assert len([m for m in fakes.outbox if m["template"] == "welcome"]) == 1


@pytest.mark.parametrize(
    "second",
    [
        full_width("full") + "@example.com",
        full_width("FULL") + "@EXAMPLE.com",
        "Full@Example.COM",
    ],
)
async def test_register_answers_409_for_the_same_address_in_other_unicode_forms(
    client: httpx.AsyncClient, app: FastAPI, second: str
) -> None:
    assert (await register(client, app, email="full@example.com")).status_code == 201

    response = await register(client, app, email=second, name="Impostor")

    assert response.status_code == 409
    assert response.json() == {"detail": TAKEN}


async def test_the_full_width_address_registered_first_also_blocks_the_ascii_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert (
        await register(client, app, email=full_width("full") + "@example.com")
    ).status_code == 201

    assert (await register(client, app, email="full@example.com")).status_code == 409


async def test_an_address_too_long_once_normalised_is_a_422_not_a_500(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await register(client, app, email="\ufdfa" * 20 + "@example.com")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]
