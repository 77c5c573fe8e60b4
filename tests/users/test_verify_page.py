"""``GET /verify``: the page the e-mailed link opens changes nothing; its button verifies."""

import httpx
import pytest
from fastapi import FastAPI

from app.mocks import FakeServices
from tests.users.test_router import registered_token

pytestmark = pytest.mark.anyio


async def test_opening_the_link_shows_a_button_and_verifies_nothing(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    token = await registered_token(client, app, fakes, "ada@example.com")
    user_id = 1

    page = await client.get("/verify", params={"token": token})
    again = await client.get("/verify", params={"token": token})  # a link scanner

    assert page.status_code == again.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'<form method="post" action="verify?token={token}">' in page.text
    assert "Verify my e-mail</button>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert (await client.get(f"/users/{user_id}")).json()["verified"] is False

    # What the button does: POST the same token.
    response = await client.post("/verify", params={"token": token})
    assert response.status_code == 200
    assert (await client.get(f"/users/{user_id}")).json()["verified"] is True


async def test_the_page_escapes_whatever_token_it_is_given(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/verify", params={"token": '"><script>alert(1)</script>'})

    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
