"""Analytics against the real server (uvicorn on 127.0.0.1): timed flush and SIGTERM.

The fake analytics service keeps its calls in the server's memory, which dies with the
process; delivery across a shutdown is therefore proven through the database fallback:
analytics down, events buffered, SIGTERM, exit 0, restart on the same database, read
``/analytics/events``.
"""

from pathlib import Path

import httpx
import pytest

from tests.e2e.server import running_server
from tests.polling import poll

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def track(http: httpx.AsyncClient, user_id: int, n: int) -> None:
    response = await http.post(
        "/track", json={"event": "view", "user_id": user_id, "properties": {"n": n}}
    )
    assert (response.status_code, response.json()) == (202, {"status": "tracked"})


async def stats(http: httpx.AsyncClient) -> dict[str, int]:
    body: dict[str, int] = (await http.get("/analytics/stats")).json()
    return body


def balanced(s: dict[str, int]) -> bool:
    return s["sent"] == (
        s["delivered"] + s["stored"] + s["lost"] + s["buffered"] + s["in_flight"]
    )


async def test_sigterm_stores_partly_filled_buffers_and_a_restart_shows_them(
    tmp_path: Path,
) -> None:
    plan = [(user, n) for n in range(4) for user in (1, 2, 3)][:10]  # 4 + 3 + 3 events
    env = {"ANALYTICS_FLUSH_INTERVAL_S": "600"}  # only the shutdown can flush them
    with running_server(tmp_path, env=env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            faults = await http.put("/demo/faults", json={"analytics": "down"})
            assert faults.status_code == 200
            for user, n in plan:
                await track(http, user, n)
            s = await stats(http)
            assert (s["sent"], s["buffered"], s["stored"], s["delivered"]) == (
                10,
                10,
                0,
                0,
            )
        assert server.stop() == 0
        assert "still in flight" not in server.output()

    with running_server(tmp_path, env=env) as server:  # same data dir, same database
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            for user in (1, 2, 3):
                response = await http.get("/analytics/events", params={"user_id": user})
                assert response.status_code == 200
                events = response.json()
                expected = [n for u, n in plan if u == user]
                assert [e["properties"]["n"] for e in events] == expected
                assert {e["event"] for e in events} == {"view"}
                assert {e["user_id"] for e in events} == {user}
                stamps = [e["timestamp"] for e in events]
                assert stamps == sorted(stamps)
            assert (await stats(http))["sent"] == 0  # counters are per process
        assert server.stop() == 0


async def test_real_server_sends_10_10_and_a_timed_5(tmp_path: Path) -> None:
    env = {"ANALYTICS_FLUSH_INTERVAL_S": "1"}
    with running_server(tmp_path, env=env) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            for n in range(25):
                await track(http, 9, n)

            async def all_delivered() -> dict[str, int] | None:
                s = await stats(http)
                return s if s["delivered"] == 25 else None

            final = await poll(all_delivered)
            assert balanced(final)
            assert (final["stored"], final["lost"], final["buffered"]) == (0, 0, 0)
            calls = (
                await http.get("/demo/calls", params={"service": "analytics"})
            ).json()
            sizes = [len(call["body"]["events"]) for call in calls]
            assert sizes == [10, 10, 5]
            sent = [
                e["properties"]["n"] for call in calls for e in call["body"]["events"]
            ]
            assert sent == list(range(25))
        assert server.stop() == 0
