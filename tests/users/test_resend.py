"""``POST /verification/resend`` through the whole app: one answer for every address,
at most one fresh link a minute, older links revoked (the rules themselves, with an
injected clock, are in test_service.py)."""

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.db import SessionFactory, utcnow
from app.mocks import FakeServices
from app.users.models import User
from app.users.schemas import RESEND_MESSAGE
from fastapi_tasks.testing import wait_for_tasks
from tests.users.unicode_forms import full_width

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
ACCEPTED = (202, {"message": RESEND_MESSAGE})


async def register(client: httpx.AsyncClient, app: FastAPI, address: str) -> int:
    response = await client.post(
        app.url_path_for("register_user"),
        json={"email": address, "password": PASSWORD, "name": "Ada"},
    )
    assert response.status_code == 201
    user_id: int = response.json()["user_id"]
    return user_id


async def resend(client: httpx.AsyncClient, app: FastAPI, body: Any) -> tuple[int, Any]:
    response = await client.post(app.url_path_for("resend_verification"), json=body)
    return response.status_code, response.json()


async def verify(client: httpx.AsyncClient, app: FastAPI, token: str) -> int:
    response = await client.post(
        app.url_path_for("verify_email"), params={"token": token}
    )
    return response.status_code


def links_sent_to(fakes: FakeServices, address: str) -> list[str]:
    """The tokens of the verification e-mails the fake service accepted, oldest first."""
    return [
        parse_qs(urlsplit(mail["data"]["verification_url"]).query)["token"][0]
        for mail in fakes.outbox
        if mail["to"] == address and mail["template"] == "email_verification"
    ]


async def age_links(sessions: SessionFactory, user_id: int) -> None:
    """Pretend the user's newest link went out two minutes ago (tests never wait one)."""
    async with sessions() as session:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(verification_sent_at=utcnow() - timedelta(minutes=2))
        )
        await session.commit()


async def test_every_address_gets_the_same_202_and_only_one_gets_a_link(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    verified = await register(client, app, "verified@example.com")
    await register(client, app, "recent@example.com")
    waiting = await register(client, app, "waiting@example.com")
    await wait_for_tasks(app, timeout=5)
    [token] = links_sent_to(fakes, "verified@example.com")
    assert await verify(client, app, token) == 200
    for user_id in (verified, waiting):
        await age_links(app_sessions, user_id)
    mails_before = len(fakes.outbox)

    answers = [
        await resend(client, app, {"email": address})
        for address in (
            "nobody@example.com",  # no account
            "verified@example.com",  # verified already
            "recent@example.com",  # its link is less than a minute old
            "WAITING@example.com",  # unverified, last link 2 minutes old: resent
        )
    ]

    assert answers == [ACCEPTED] * 4
    await wait_for_tasks(app, timeout=5)
    new_mails = fakes.outbox[mails_before:]
    assert [(mail["to"], mail["template"]) for mail in new_mails] == [
        ("waiting@example.com", "email_verification")
    ]


async def test_resend_right_after_registering_sends_nothing(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices
) -> None:
    await register(client, app, "ada@example.com")

    assert await resend(client, app, {"email": "ada@example.com"}) == ACCEPTED

    await wait_for_tasks(app, timeout=5)
    assert len(links_sent_to(fakes, "ada@example.com")) == 1


async def test_after_a_resend_the_old_link_fails_and_the_new_one_verifies(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    user_id = await register(client, app, "ada@example.com")
    await wait_for_tasks(app, timeout=5)
    await age_links(app_sessions, user_id)

    assert await resend(client, app, {"email": "ada@example.com"}) == ACCEPTED

    await wait_for_tasks(app, timeout=5)
    old, new = links_sent_to(fakes, "ada@example.com")
    assert await verify(client, app, old) == 400
    assert await verify(client, app, new) == 200
    await wait_for_tasks(app, timeout=5)
    user = (await client.get(app.url_path_for("get_user", user_id=str(user_id)))).json()
    assert user["verified"] is True
    assert [(n["topic"], n["status"]) for n in user["notifications"]] == [
        ("email_verification", "sent"),
        ("email_verification", "sent"),
        ("welcome", "sent"),
    ]


async def test_concurrent_resends_send_exactly_one_link(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    user_id = await register(client, app, "ada@example.com")
    await wait_for_tasks(app, timeout=5)
    await age_links(app_sessions, user_id)
    answers: list[tuple[int, Any]] = []

    async def attempt() -> None:
        answers.append(await resend(client, app, {"email": "ada@example.com"}))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(attempt)

    assert answers == [ACCEPTED] * 5
    await wait_for_tasks(app, timeout=5)
    first, second = links_sent_to(fakes, "ada@example.com")
    assert await verify(client, app, first) == 400
    assert await verify(client, app, second) == 200


async def test_a_taken_address_is_409_and_resend_is_the_way_to_a_new_link(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    user_id = await register(client, app, "ada@example.com")
    await age_links(app_sessions, user_id)  # the e-mail never arrived, say

    again = await client.post(
        app.url_path_for("register_user"),
        json={"email": "Ada@Example.com", "password": PASSWORD, "name": "Ada"},
    )

    assert again.status_code == 409
    assert "POST /verification/resend" in again.json()["detail"]
    assert await resend(client, app, {"email": "Ada@Example.com"}) == ACCEPTED
    await wait_for_tasks(app, timeout=5)
    assert await verify(client, app, links_sent_to(fakes, "ada@example.com")[-1]) == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address"},
        {"email": "ada@localhost"},
        {"email": 12345678},
        {"email": None},
        {},
        ["ada@example.com"],
        "ada@example.com",
    ],
)
async def test_resend_answers_422_for_anything_but_an_address(
    client: httpx.AsyncClient, app: FastAPI, fakes: FakeServices, body: Any
) -> None:
    response = await client.post(app.url_path_for("resend_verification"), json=body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][0] == "body"
    assert "not-an-address" not in response.text  # the input is never echoed
    assert "12345678" not in response.text
    await wait_for_tasks(app, timeout=5)
    assert fakes.outbox == []


def test_resend_is_documented(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/verification/resend"]["post"]

    assert operation["tags"] == ["users"]
    assert operation["summary"]
    assert set(operation["responses"]) == {"202", "400", "408", "422"}
    invalid = operation["responses"]["422"]["content"]["application/json"]
    [example] = invalid["examples"].values()
    assert example["value"]["detail"][0]["loc"] == ["body", "email"]
    schemas = app.openapi()["components"]["schemas"]
    assert invalid["schema"]["$ref"].rsplit("/", 1)[-1] in schemas
    assert schemas["ResendAccepted"]["examples"] == [{"message": RESEND_MESSAGE}]
    assert schemas["VerificationResend"]["examples"] == [{"email": "ada@example.com"}]


async def test_resend_finds_the_account_by_the_same_rule_as_registration(
    client: httpx.AsyncClient,
    app: FastAPI,
    fakes: FakeServices,
    app_sessions: SessionFactory,
) -> None:
    user_id = await register(client, app, "full@example.com")
    await wait_for_tasks(app, timeout=5)
    await age_links(app_sessions, user_id)

    # full-width letters, another case: the same account (app.email_address)
    assert (
        await resend(client, app, {"email": full_width("FULL") + "@Example.com"})
        == ACCEPTED
    )

    await wait_for_tasks(app, timeout=5)
    assert len(links_sent_to(fakes, "full@example.com")) == 2
