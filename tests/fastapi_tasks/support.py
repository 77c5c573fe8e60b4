"""Helpers for the fastapi_tasks tests: a client with the app's lifespan, raw ASGI calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from fastapi_tasks import Task


@asynccontextmanager
async def lifespan_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (startup/shutdown) and yield a client bound to it."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as client,
    ):
        yield client


def http_scope(path: str, method: str = "GET") -> dict[str, Any]:
    """A minimal HTTP scope for calling the ASGI app directly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
        "state": {},
    }


async def call_asgi(
    app: FastAPI,
    path: str,
    *,
    method: str = "GET",
    on_message: Callable[[dict[str, Any]], Any] | None = None,
    disconnect: anyio.Event | None = None,
) -> list[dict[str, Any]]:
    """Call the app once through ASGI.

    ``on_message`` may be async and may raise (a client gone while sending); once
    ``disconnect`` is set, ``receive`` reports ``http.disconnect``.
    """
    sent: list[dict[str, Any]] = []
    request_sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if disconnect is None:
            await anyio.sleep_forever()
        else:
            await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))
        if on_message is not None:
            result = on_message(sent[-1])
            if hasattr(result, "__await__"):
                await result

    await app(http_scope(path, method), receive, send)
    return sent


@dataclass
class SeedEmail:
    """The seed's failing e-mail task and its retry handler (3 tries with back-off, then alert)."""

    calls: list[str] = field(default_factory=list)
    handler_calls: list[Exception] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    async def send_email(self, email: str, token: str) -> None:
        self.calls.append(email)
        raise ConnectionError("smtp down")

    async def email_error_handler(self, task: Task, error: Exception) -> None:
        self.handler_calls.append(error)
        max_retries = 3
        for attempt in range(max_retries):
            try:
                await anyio.sleep(0.001 * 2**attempt)
                await task()  # inside the task's own handler: raises again
                return
            except Exception:
                if attempt == max_retries - 1:
                    self.outcomes.append("alert")
