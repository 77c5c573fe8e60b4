"""One benchmark variant in its own process.

This module must import nothing from ``bench`` (or from the repository): it also runs
under the interpreter of ``bench/.venv-published``, started with ``python -I`` so the
repository's ``fastapi_tasks`` can never shadow the published one. It needs only the
standard library, FastAPI and, for the two task-library variants, ``fastapi_tasks``.

Two ways to use it:

* ``python -I bench/standalone/bench_worker.py inproc VARIANT`` reads commands on stdin
  (``run N`` / ``quit``) and answers each with one JSON line measuring N requests
  driven straight into the ASGI app.
* ``python -I -m uvicorn --factory bench_worker:create_app_from_env --app-dir bench/standalone ...``
  serves the variant named by ``BENCH_VARIANT`` over HTTP (``GET /work``, ``GET /stats``).
"""

import asyncio
import contextvars
import gc
import json
import os
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    MutableMapping,
)
from contextlib import AsyncExitStack
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, Request

# "<library>-declare": the endpoint declares `tasks: Tasks` but schedules nothing (opt-in
# variants that split the library's fixed per-request cost from its per-task cost).
# "depends": a trivial async dependency, FastAPI's floor for anything declared with Depends.
# "floor": that dependency plus the three tasks started with plain create_task (immediately and
# on FastAPI's two exit stacks): the floor of any `Tasks`-as-a-dependency design.
# "depends-scoped": the public route to the two start points, a request-scoped and a
# function-scoped generator dependency (`Depends(..., scope=...)`), nothing scheduled.
VARIANTS = (
    "none",
    "background",
    "published",
    "ours",
    "published-declare",
    "ours-declare",
    "depends",
    "floor",
    "depends-scoped",
)
TASK_VARIANTS = ("published", "ours", "published-declare", "ours-declare")
NO_TASK_VARIANTS = ("none", "depends", "depends-scoped")

# Set by the driver for the "ours" variant: the repository root to put first on sys.path.
OURS_PATH_ENV = "BENCH_OURS_PATH"
VARIANT_ENV = "BENCH_VARIANT"

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Counter:
    """How many no-op tasks ran (the driver checks that every variant did its work), and
    the CPU seconds the cyclic garbage collector took (the report's "GC us/req")."""

    __slots__ = ("gc_seconds", "gc_started", "ran")

    def __init__(self) -> None:
        self.ran = 0
        self.gc_seconds = 0.0
        self.gc_started = 0.0


COUNTER = _Counter()

# Set by the driver (``--ours-history N``): the history size of "ours", instead of the
# library's default (a what-if for the report, never the judged configuration).
OURS_HISTORY_ENV = "BENCH_OURS_HISTORY"


def _time_gc(phase: str, _info: dict[str, int]) -> None:
    # Thread CPU time: the collector runs on the thread that triggered it, holding the GIL.
    if phase == "start":
        COUNTER.gc_started = time.thread_time()
    else:
        COUNTER.gc_seconds += time.thread_time() - COUNTER.gc_started


async def noop() -> None:
    """The benchmarked task: does nothing but count itself."""
    COUNTER.ran += 1


def _prepare_import(variant: str) -> None:
    if variant.startswith("ours"):
        root = os.environ.get(OURS_PATH_ENV)
        if root and root not in sys.path:
            sys.path.insert(0, root)


def library_origin(variant: str) -> str | None:
    """Where ``fastapi_tasks`` was imported from (None for the variants without it)."""
    if variant not in TASK_VARIANTS:
        return None
    module = sys.modules.get("fastapi_tasks")
    return getattr(module, "__file__", None) if module is not None else None


def _app_none() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/work")
    async def work() -> dict[str, bool]:
        return {"ok": True}

    return app


async def _trivial_dependency() -> int:
    return 1


def _app_depends() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/work")
    async def work(
        value: Annotated[int, Depends(_trivial_dependency)],
    ) -> dict[str, bool]:
        return {"ok": value == 1}

    return app


class FloorTasks:
    """The minimal correct three modes: no registry, no state, no error handling.

    Each method copies the context now and starts the call with ``loop.create_task`` at its
    start point: at once, when FastAPI closes the function exit stack (the endpoint returned)
    or when it closes the request exit stack (the response was sent).
    """

    __slots__ = ("function_stack", "request_stack")

    def __init__(
        self, function_stack: AsyncExitStack, request_stack: AsyncExitStack
    ) -> None:
        self.function_stack = function_stack
        self.request_stack = request_stack

    @staticmethod
    def _start(
        fn: Callable[[], Coroutine[Any, Any, None]], context: contextvars.Context
    ) -> None:
        asyncio.get_running_loop().create_task(fn(), context=context)

    def schedule(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._start(fn, contextvars.copy_context())

    def after_route(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.function_stack.callback(self._start, fn, contextvars.copy_context())

    def after_response(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.request_stack.callback(self._start, fn, contextvars.copy_context())


async def _floor_tasks(request: Request) -> FloorTasks:
    scope = request.scope
    return FloorTasks(scope["fastapi_function_astack"], scope["fastapi_inner_astack"])


def _app_floor() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/work")
    async def work(
        tasks: Annotated[FloorTasks, Depends(_floor_tasks)],
    ) -> dict[str, bool]:
        tasks.schedule(noop)
        tasks.after_route(noop)
        tasks.after_response(noop)
        return {"ok": True}

    return app


async def _request_scoped() -> AsyncIterator[int]:
    yield 1  # teardown here runs after the response was sent


async def _function_scoped(
    value: Annotated[int, Depends(_request_scoped, scope="request")],
) -> AsyncIterator[int]:
    yield value  # teardown here runs after the endpoint returned, before the response


def _app_depends_scoped() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/work")
    async def work(
        value: Annotated[int, Depends(_function_scoped, scope="function")],
    ) -> dict[str, bool]:
        return {"ok": value == 1}

    return app


def _app_background() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/work")
    async def work(background: BackgroundTasks) -> dict[str, bool]:
        background.add_task(noop)
        background.add_task(noop)
        background.add_task(noop)
        return {"ok": True}

    return app


def _app_task_library(*, schedule: bool = True, history: int | None = None) -> FastAPI:
    # The same source for "published" and "ours": which library this is depends only on
    # the interpreter and sys.path of this process. (No `from __future__ import annotations`
    # in this module: FastAPI must see the real `Tasks` / `BackgroundTasks` annotations.)
    from fastapi_tasks import Tasks, add_tasks

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if history is None:
        add_tasks(app)
    else:  # ours only: the published package keeps no history
        add_tasks(app, max_finished=history)

    if not schedule:

        @app.get("/work")
        async def declare_only(tasks: Tasks) -> dict[str, bool]:  # noqa: ARG001 (the cost measured)
            return {"ok": True}

        return app

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        tasks.schedule(noop)
        tasks.after_route.schedule(noop)
        tasks.after_response.schedule(noop)
        return {"ok": True}

    return app


def build_app(variant: str) -> FastAPI:
    """The benchmark app for one variant, plus ``GET /stats`` (tasks run, library origin)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    _prepare_import(variant)
    if variant == "none":
        app = _app_none()
    elif variant == "background":
        app = _app_background()
    elif variant == "depends":
        app = _app_depends()
    elif variant == "floor":
        app = _app_floor()
    elif variant == "depends-scoped":
        app = _app_depends_scoped()
    else:
        # The driver sets it for "ours" variants only (bench/processes.py: child_env).
        history = os.environ.get(OURS_HISTORY_ENV)
        app = _app_task_library(
            schedule=not variant.endswith("-declare"),
            history=int(history) if history is not None else None,
        )

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return {
            "tasks_ran": COUNTER.ran,
            "gc_seconds": COUNTER.gc_seconds,
            "library": library_origin(variant),
            "pid": os.getpid(),
        }

    return app


def create_app_from_env() -> FastAPI:
    """uvicorn ``--factory`` entry point: the variant comes from ``BENCH_VARIANT``."""
    gc.callbacks.append(_time_gc)
    return build_app(os.environ[VARIANT_ENV])


# --------------------------------------------------------------------------- in-process


_REQUEST_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/work",
    "raw_path": b"/work",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}
_REQUEST_MESSAGE: dict[str, Any] = {
    "type": "http.request",
    "body": b"",
    "more_body": False,
}
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}


class _Exchange:
    """One fake HTTP exchange, as a server would drive it (like uvicorn: after the body
    is complete, ``receive`` reports a disconnect)."""

    __slots__ = ("_done", "body_complete", "requested", "status")

    def __init__(self) -> None:
        self.requested = False
        self.body_complete = False
        self.status = 0
        self._done: asyncio.Event | None = None

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return dict(_REQUEST_MESSAGE)
        if not self.body_complete:
            if self._done is None:
                self._done = asyncio.Event()
            await self._done.wait()
        return dict(_DISCONNECT)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.body_complete = True
            if self._done is not None:
                self._done.set()


class InProcess:
    """Runs the app's lifespan and drives requests straight into the ASGI callable."""

    def __init__(self, app: ASGIApp, tasks_per_request: int) -> None:
        self.app = app
        self.tasks_per_request = tasks_per_request
        self.state: dict[str, Any] = {}
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scope: Scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }

        async def lifespan() -> None:
            await self.app(scope, self._to_app.get, self._from_app.put)

        self._lifespan = asyncio.create_task(lifespan())
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._from_app.get()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {reply}")

    async def stop(self) -> None:
        if self._lifespan is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        reply = await self._from_app.get()
        if reply["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"lifespan shutdown failed: {reply}")
        await self._lifespan

    async def request(self) -> int:
        exchange = _Exchange()
        scope = dict(_REQUEST_SCOPE)
        scope["state"] = self.state.copy()  # uvicorn gives each request a shallow copy
        await self.app(scope, exchange.receive, exchange.send)
        return exchange.status

    async def _drain(self, expected: int, max_yields: int = 100_000) -> None:
        """Let queued tasks run: every scheduled no-op should have counted itself."""
        for _ in range(max_yields):
            if COUNTER.ran >= expected:
                return
            await asyncio.sleep(0)

    async def run(self, n: int) -> dict[str, Any]:
        gc.collect()
        ran_before = COUNTER.ran
        expected = ran_before + n * self.tasks_per_request
        bad = 0
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        for _ in range(n):
            if await self.request() != 200:
                bad += 1
            # A server yields to the loop between requests; give scheduled tasks that chance.
            await asyncio.sleep(0)
        await self._drain(expected)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        return {
            "requests": n,
            "bad_status": bad,
            "wall_us_per_request": wall * 1e6 / n,
            "cpu_us_per_request": cpu * 1e6 / n,
            "tasks_per_request": (COUNTER.ran - ran_before) / n,
        }


def tasks_per_request(variant: str) -> int:
    return 0 if variant in NO_TASK_VARIANTS or variant.endswith("-declare") else 3


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when available (the server runs on it too), else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve_commands(variant: str, warmup: int) -> None:
    runner = InProcess(build_app(variant), tasks_per_request(variant))
    await runner.start()
    try:
        await runner.run(warmup)
        _reply({"ready": True, "variant": variant, "library": library_origin(variant)})
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if not line or line == "quit":
                break
            command, _, arg = line.partition(" ")
            if command != "run":
                _reply({"error": f"unknown command {line!r}"})
                continue
            _reply(await runner.run(int(arg)))
    finally:
        await runner.stop()


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "inproc":
        sys.stderr.write("usage: bench_worker.py inproc VARIANT [WARMUP]\n")
        return 2
    variant = argv[1]
    warmup = int(argv[2]) if len(argv) > 2 else 300
    loop = new_loop()
    try:
        loop.run_until_complete(_serve_commands(variant, warmup))
    except Exception as exc:
        _reply({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
