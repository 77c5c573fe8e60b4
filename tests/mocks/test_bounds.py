"""The fakes stay small: capped tables, truncated bodies, and no respx call history."""

import sqlite3
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.mocks import FakeServices, build_router
from tests.mocks.helpers import ANALYTICS, EMAIL, PAYMENTS, a_charge, a_mail, talking_to

pytestmark = pytest.mark.anyio


def row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables
        }


async def test_every_table_keeps_only_the_newest_rows(
    fake_settings: Settings, fakes_db: Path
) -> None:
    fakes = FakeServices(fakes_db, max_calls=7, max_rows=5)
    async with talking_to(fakes, fake_settings) as http:
        for n in range(20):
            await http.post(f"{EMAIL}/send", json=a_mail(f"user{n}@example.com"))
            await http.post(f"{PAYMENTS}/charge", json=a_charge(n))
            events = [{"event": "view", "n": n}, {"event": "click", "n": n}]
            await http.post(f"{ANALYTICS}/batch", json={"events": events})

    counts = row_counts(fakes_db)
    assert counts["call"] == 7
    assert counts["email"] == counts["charge"] == counts["analytics_event"] == 5
    assert max(counts.values()) <= 7
    assert [m["to"] for m in fakes.outbox] == [
        f"user{n}@example.com" for n in range(15, 20)
    ]
    assert [e["n"] for e in fakes.analytics_events] == [17, 18, 18, 19, 19]
    assert [c.service for c in fakes.calls][-1] == "analytics"
    fakes.close()


async def test_big_bodies_are_recorded_as_their_size(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    mail = a_mail() | {"data": {"text": "x" * 10_000}}
    response = await http.post(f"{EMAIL}/send", json=mail)

    [call] = fakes.calls_to("email")
    assert response.status_code == 202
    assert call.body == {"truncated": True, "bytes": len(response.request.content)}
    [accepted] = fakes.outbox  # the e-mail itself is kept whole
    assert accepted["data"]["text"] == "x" * 10_000


async def test_the_router_keeps_no_call_history(
    fakes: FakeServices, fake_settings: Settings
) -> None:
    router = build_router(fakes, fake_settings)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(router.async_handler)
    ) as http:
        for n in range(150):
            await http.post(f"{EMAIL}/send", json=a_mail())
            await http.post(f"{PAYMENTS}/charge", json=a_charge(n))
        fakes.set_faults(payment="timeout")
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{PAYMENTS}/charge", json=a_charge(999))

    assert len(fakes.calls) == 301  # the fakes' own, bounded record
    assert len(router.calls) == 0
    assert [len(route.calls) for route in router.routes] == [0] * len(router.routes)
