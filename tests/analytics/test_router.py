"""The analytics endpoints in-process (real lifespan, fake services, real SQLite).

Waiting is on events or polling with a deadline; nothing sleeps and hopes.
"""

import json
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import make_url

from app.config import Settings
from app.main import create_app
from app.mocks import FakeServices
from fastapi_tasks.testing import wait_for_tasks
from tests.databases import execute
from tests.polling import poll as eventually

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(
    settings: Settings,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as http,
    ):
        yield app, http


def fakes_of(app: FastAPI) -> FakeServices:
    fakes: FakeServices = app.state.fakes
    return fakes


def database_path(settings: Settings) -> Path:
    return Path(str(make_url(settings.database_url).database))


async def stats(http: httpx.AsyncClient) -> dict[str, int]:
    response = await http.get("/analytics/stats")
    assert response.status_code == 200
    body: dict[str, int] = response.json()
    return body


async def assert_balanced(http: httpx.AsyncClient, *, db_works: bool = True) -> None:
    s = await stats(http)
    assert (
        s["sent"]
        == s["delivered"] + s["stored"] + s["lost"] + s["buffered"] + s["in_flight"]
    )
    if db_works:
        assert s["lost"] == 0


async def track(http: httpx.AsyncClient, user_id: int, n: int, **extra: Any) -> None:
    body = {"event": "view", "user_id": user_id, "properties": {"n": n, **extra}}
    response = await http.post("/track", json=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "tracked"}


async def set_analytics(http: httpx.AsyncClient, fault: str) -> None:
    response = await http.put("/demo/faults", json={"analytics": fault})
    assert response.status_code == 200


async def stored(http: httpx.AsyncClient, user_id: int) -> list[dict[str, Any]]:
    response = await http.get("/analytics/events", params={"user_id": user_id})
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()
    return events


def batches(fakes: FakeServices) -> list[list[dict[str, Any]]]:
    return [
        call.body["events"]
        for call in fakes.calls_to("analytics")
        if call.status == 202
    ]


# -- POST /track validation -------------------------------------------------------


async def test_track_accepts_an_event_and_defaults_properties(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post(
        app.url_path_for("track_event"), json={"event": "signup", "user_id": 1}
    )
    assert (response.status_code, response.json()) == (202, {"status": "tracked"})
    flushed = (await client.post(app.url_path_for("flush_analytics"))).json()
    assert (flushed["sent"], flushed["delivered"], flushed["buffered"]) == (1, 1, 0)
    [[event]] = batches(fakes_of(app))
    assert event["properties"] == {}
    assert event["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    "body",
    [
        {"event": "", "user_id": 1},
        {"user_id": 1},
        {"event": "x"},
        {"event": "x", "user_id": 0},
        {"event": "x", "user_id": -4},
        {"event": "x", "user_id": "seven"},
        {"event": "x", "user_id": 1.5},
        {"event": "x", "user_id": 2**63},
        {"event": "x", "user_id": 1, "properties": ["not", "an", "object"]},
        {"event": "x", "user_id": 1, "properties": "text"},
        {"event": "x", "user_id": 1, "timestamp": "2020-01-01T00:00:00Z"},
        {"event": 5, "user_id": 1},
        ["not an object"],
        '{"event": "x", "user_id": 1, "properties": {"a": NaN}}',
        '{"event": "x", "user_id": 1, "properties": {"a": [1, {"b": Infinity}]}}',
        '{"event": "x", "user_id": 1, "properties": {"a": 1e999}}',
    ],
)
async def test_track_rejects_invalid_bodies_with_422(
    client: httpx.AsyncClient, body: Any
) -> None:
    if isinstance(body, str):  # not JSON, though Python's parser accepts it
        headers = {"content-type": "application/json"}
        response = await client.post("/track", content=body, headers=headers)
    else:
        response = await client.post("/track", json=body)
    assert response.status_code == 422
    assert "detail" in response.json()
    assert (await stats(client))["sent"] == 0


@pytest.mark.parametrize(
    "query", ["", "?user_id=0", "?user_id=-2", "?user_id=abc", f"?user_id={2**63}"]
)
async def test_stored_events_need_a_positive_user_id(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/analytics/events{query}")
    assert response.status_code == 422


# -- batching through the app ------------------------------------------------------


async def test_25_events_leave_as_batches_of_10_10_then_a_timed_5(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"analytics_flush_interval_s": 1.0})
    async with running(settings) as (app, http):
        for n in range(25):
            await track(http, 7, n)
        await wait_for_tasks(app)  # the two size flushes ran as library tasks
        assert [len(b) for b in batches(fakes_of(app))] == [10, 10]
        assert (await stats(http))["buffered"] == 5

        # Nobody asks: the app's flusher sends the rest once the oldest is 1 s old.
        await eventually(lambda: _delivered_at_least(http, 25))
        # The two size flushes run concurrently: the fake may record either one first.
        sent = sorted(batches(fakes_of(app)), key=lambda b: b[0]["properties"]["n"])
        assert [len(b) for b in sent] == [10, 10, 5]
        assert [e["properties"]["n"] for b in sent for e in b] == list(range(25))
        assert set(sent[0][0]) == {"event", "user_id", "properties", "timestamp"}
        tasks = (await http.get("/demo/tasks")).json()
        assert sum(t["name"] == "analytics.flush_batch" for t in tasks) == 3
        assert await stored(http, 7) == []
        await assert_balanced(http)


async def _delivered_at_least(http: httpx.AsyncClient, count: int) -> bool:
    return (await stats(http))["delivered"] >= count


async def test_analytics_outage_keeps_every_event_in_the_database(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await set_analytics(client, "down")
    for n in range(13):
        await track(client, 1 + n % 2, n, page=f"/p/{n}")
    final = (await client.post("/analytics/flush")).json()
    assert (final["sent"], final["stored"], final["delivered"], final["lost"]) == (
        13,
        13,
        0,
        0,
    )
    assert final["batches_stored"] == 2  # one per user (7 and 6 events)

    first, second = await stored(client, 1), await stored(client, 2)
    assert [e["properties"]["n"] for e in first] == [0, 2, 4, 6, 8, 10, 12]
    assert [e["properties"]["n"] for e in second] == [1, 3, 5, 7, 9, 11]
    assert first[0] == {
        "event": "view",
        "user_id": 1,
        "properties": {"n": 0, "page": "/p/0"},
        "timestamp": first[0]["timestamp"],
    }
    stamps = [e["timestamp"] for e in first]
    assert stamps == sorted(stamps)
    assert all(s.endswith("Z") for s in stamps)
    assert await stored(client, 3) == []
    assert fakes_of(app).calls_to("alerts") == []
    await assert_balanced(client)


async def test_analytics_and_database_down_alert_once_with_the_count(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    await set_analytics(client, "down")
    execute(settings.database_url, "DROP TABLE analytics_event")  # the fallback is gone
    for n in range(7):
        await track(client, 42, n)
    final = (await client.post("/analytics/flush")).json()
    assert (final["sent"], final["lost"], final["batches_lost"]) == (7, 7, 1)
    [alert] = fakes_of(app).calls_to("alerts")
    assert "lost 7 events of user 42" in alert.body["text"]
    assert alert.body["severity"] == "error"
    await assert_balanced(client, db_works=False)


async def test_interleaved_users_with_a_flapping_service_lose_and_duplicate_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    rng = random.Random(11)
    planned = [(user, n) for user in range(1, 26) for n in range(rng.randint(0, 23))]
    rng.shuffle(planned)
    sent_so_far = 0

    async def worker(share: list[tuple[int, int]]) -> None:
        nonlocal sent_so_far
        for user, n in share:
            await track(client, user, n)
            sent_so_far += 1
            if sent_so_far == len(planned) // 3:
                await set_analytics(client, "down")
            elif sent_so_far == 2 * len(planned) // 3:
                # What the buffers hold now meets the outage, however fast the requests
                # ran (a full buffer's flush may not have come round yet).
                await client.post("/analytics/flush")
                await set_analytics(client, "ok")

    async with anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(worker, planned[i::10])
    final = (await client.post("/analytics/flush")).json()

    delivered = [e for b in batches(fakes_of(app)) for e in b]
    in_db = [e for user in range(1, 26) for e in await stored(client, user)]
    got = Counter((e["user_id"], e["properties"]["n"]) for e in delivered + in_db)
    assert got == Counter(planned)  # multiset equality: nothing lost, nothing twice
    assert final["sent"] == len(planned)
    assert final["delivered"] == len(delivered) > 0
    assert final["stored"] == len(in_db) > 0
    assert all(
        len(b) <= 10 and len({e["user_id"] for e in b}) == 1
        for b in batches(fakes_of(app))
    )
    await assert_balanced(client)


# -- memory cap ----------------------------------------------------------------------


@pytest.mark.sqlite_only(reason="holds SQLite's database-wide write lock")
async def test_full_memory_answers_503_with_retry_after_and_recovers(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"analytics_buffer_cap": 6})
    async with running(settings) as (_, http):
        await set_analytics(http, "down")
        # Hold SQLite's write lock: fallback inserts wait (busy_timeout), so nothing
        # that left a buffer can settle and memory cannot drain.
        lock = sqlite3.connect(database_path(settings), isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")
            for n in range(6):
                await track(http, 1 + n % 3, n)
            s = await stats(http)
            assert s["buffered"] + s["in_flight"] == 6
            assert s["in_flight"] > 0  # pressure flushed the largest buffers early
            refused = await http.post("/track", json={"event": "view", "user_id": 9})
            assert refused.status_code == 503
            assert refused.headers["Retry-After"] == "5"
            assert "retry" in refused.json()["detail"].lower()
        finally:
            lock.rollback()
            lock.close()
        await eventually(lambda: _has_room(http))
        await track(http, 9, 6)
        final = (await http.post("/analytics/flush")).json()
        assert (final["sent"], final["stored"], final["rejected"], final["lost"]) == (
            7,
            7,
            1,
            0,
        )
        got = [
            e["properties"]["n"] for u in (1, 2, 3, 9) for e in await stored(http, u)
        ]
        assert sorted(got) == list(range(7))
        await assert_balanced(http)


async def _has_room(http: httpx.AsyncClient) -> bool:
    s = await stats(http)
    return s["buffered"] + s["in_flight"] < s["capacity"]


# -- shutdown --------------------------------------------------------------------------


async def test_shutdown_delivers_partly_filled_buffers(settings: Settings) -> None:
    settings = settings.model_copy(update={"analytics_flush_interval_s": 600.0})
    async with running(settings) as (app, http):
        for n in range(7):
            await track(http, 1 + n % 3, n)
        assert (await stats(http))["buffered"] == 7
    # The lifespan has ended: the HTTP client is closed, yet every event went out.
    delivered = [e for b in batches(fakes_of(app)) for e in b]
    assert sorted(e["properties"]["n"] for e in delivered) == list(range(7))


async def test_shutdown_during_an_outage_stores_partly_filled_buffers(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"analytics_flush_interval_s": 600.0})
    async with running(settings) as (_, http):
        await set_analytics(http, "down")
        for n in range(5):
            await track(http, 4, n)
    async with running(settings) as (_, http):  # same database, new process state
        assert [e["properties"]["n"] for e in await stored(http, 4)] == list(range(5))


# -- the other examples track through the same tracker --------------------------------


async def test_registration_is_tracked_through_the_buffered_tracker(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"analytics_flush_interval_s": 600.0})
    async with running(settings) as (app, client):
        body = {"email": "ada@example.com", "password": "correct horse", "name": "Ada"}
        response = await client.post("/register", json=body)
        assert response.status_code == 201
        await wait_for_tasks(app)  # the after_response task called tracker.track
        assert (await stats(client))["buffered"] == 1  # buffered, not sent one by one
        final = (await client.post("/analytics/flush")).json()
        assert (final["sent"], final["delivered"]) == (1, 1)
        [[event]] = batches(fakes_of(app))
        assert (event["event"], event["user_id"]) == (
            "user_registered",
            response.json()["user_id"],
        )
        await assert_balanced(client)


# -- hostile text ---------------------------------------------------------------------

# Text that is legal and awkward: every one must come back from the database exactly.
AWKWARD_TEXT = [
    "\u2028\u2029",  # JavaScript line separators
    "\U0001f600 \u202eRTL",  # astral plane, right-to-left override
    "\uffff\ufffe\ufeff",  # noncharacters and a BOM
    "\x01\x1f\x7f",  # control characters other than NUL
    "\\u0000 as six characters",
]


async def test_awkward_but_legal_text_is_stored_and_read_back_exactly(
    client: httpx.AsyncClient,
) -> None:
    await set_analytics(client, "down")  # so the batch lands in the database
    properties: dict[str, Any] = {text: [text, {text: text}] for text in AWKWARD_TEXT}
    body = {"event": AWKWARD_TEXT[1], "user_id": 7, "properties": properties}
    assert (await client.post("/track", json=body)).status_code == 202

    final = (await client.post("/analytics/flush")).json()

    assert (final["stored"], final["lost"]) == (1, 0)
    [event] = await stored(client, 7)
    assert (event["event"], event["properties"]) == (AWKWARD_TEXT[1], properties)


@pytest.mark.parametrize(
    "properties",
    [
        {"q": "\ud800"},
        {"deep": [{"k": "a\x00"}]},
        {"\udc00": 1},
        {"a\x00b": 1},
    ],
)
async def test_a_lone_surrogate_or_nul_anywhere_in_properties_is_refused(
    client: httpx.AsyncClient, properties: dict[str, Any]
) -> None:
    # As the issue found it: 202, then the user's batch could never be sent or stored and
    # GET /analytics/events answered 500 for that user from then on.
    content = json.dumps({"event": "x", "user_id": 8, "properties": properties})

    response = await client.post(
        "/track", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert "properties" in response.json()["detail"][0]["loc"]
    assert (await client.post("/analytics/flush")).json()["sent"] == 0
    assert await stored(client, 8) == []
