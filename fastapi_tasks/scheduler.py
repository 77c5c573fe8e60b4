"""``TasksScheduler`` (what ``tasks: Tasks`` gives) and its two deferred batches."""

from __future__ import annotations

import contextvars
import functools
import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ParamSpec, TypeVar, overload

from typing_extensions import Unpack

from fastapi_tasks.config import TaskConfig, TaskOptions
from fastapi_tasks.exit_stacks import watch_request_stages
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.task import Task, TaskMode

__all__ = [
    "ConfiguredScheduler",
    "TaskBatch",
    "TasksBatch",
    "TasksScheduler",
]

P = ParamSpec("P")
R = TypeVar("R")

_request_ids = itertools.count(1)


@functools.lru_cache(maxsize=1024)
def _route_label(method: str, path: str) -> str:
    """``"POST /orders"``: one string per route, shared by its requests' tasks.

    Built per request, the label was one more string formatted per request and kept alive
    by the task history until 333 requests later; cached, server CPU per request fell from
    x1.129 to x1.111 of ``floor`` over uvicorn (11 interleaved rounds). Bounded, so
    unrouted paths cannot grow it.
    """
    return f"{method} {path}"


# A deferred task waits with the context copied when it was scheduled.
_Held = list[tuple[Task, contextvars.Context]]


class _TaskConfigurer:
    """The ``.task(...)`` shared by ``TasksScheduler`` (immediate) and ``TasksBatch``."""

    __slots__ = ()

    def _target(self) -> tuple[TasksScheduler, TaskMode]:
        raise NotImplementedError

    def task(self, **options: Unpack[TaskOptions]) -> ConfiguredScheduler:
        """Configure one task of this mode: any ``TaskConfig`` field, by keyword.

        Per-task settings win over the app's config (``add_tasks(app, config=...)``).
        """
        scheduler, mode = self._target()
        config = scheduler.registry.config.merge(TaskConfig(**options))
        return ConfiguredScheduler(scheduler, mode, config)


class ConfiguredScheduler:
    """Returned by ``.task(...)``: its ``.schedule`` applies the merged config."""

    __slots__ = ("_config", "_mode", "_scheduler")

    def __init__(
        self, scheduler: TasksScheduler, mode: TaskMode, config: TaskConfig
    ) -> None:
        self._scheduler = scheduler
        self._mode = mode
        self._config = config

    @property
    def config(self) -> TaskConfig:
        """The merged config every task scheduled here gets."""
        return self._config

    @overload
    def schedule(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    @overload
    def schedule(
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    def schedule(
        self, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[..., Any]:
        """Schedule ``fn(*args, **kwargs)`` with this config; returns the ``Task``."""
        scheduler = self._scheduler
        if self._mode is TaskMode.IMMEDIATE:
            return scheduler._start_now(self._config, fn, args, kwargs)
        return scheduler._defer(self._mode, self._config, fn, args, kwargs)


class TasksBatch(_TaskConfigurer):
    """``tasks.after_route`` / ``tasks.after_response``: tasks started later, in order."""

    __slots__ = ("_mode", "_scheduler")

    def __init__(self, scheduler: TasksScheduler, mode: TaskMode) -> None:
        self._scheduler = scheduler
        self._mode = mode

    @property
    def mode(self) -> TaskMode:
        """``after_route`` or ``after_response``."""
        return self._mode

    @overload
    def schedule(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    @overload
    def schedule(
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    def schedule(
        self, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[..., Any]:
        """Schedule ``fn(*args, **kwargs)`` in this batch; returns the ``Task``."""
        scheduler = self._scheduler
        return scheduler._defer(
            self._mode, scheduler._registry.config, fn, args, kwargs
        )

    def _target(self) -> tuple[TasksScheduler, TaskMode]:
        return self._scheduler, self._mode


TaskBatch = TasksBatch
"""This project's earlier name of ``TasksBatch`` (the published one); the same class."""


class TasksScheduler(_TaskConfigurer):
    """What ``tasks: Tasks`` gives: schedules tasks tied to the current request.

    - ``schedule(fn, *args, **kwargs)``: immediate; starts at once, concurrently with the endpoint.
    - ``after_route.schedule(...)``: handed to the loop in order once the endpoint (and its
      function-scoped dependencies) returned, before the response is sent (first step at the
      loop's next turn); not started if the endpoint raised.
    - ``after_response.schedule(...)``: started in order once the response was sent (whole body,
      or the client disconnected); not started if the endpoint raised.

    Outside a request (``get_scheduler(app)``) both batches start their tasks at once.
    """

    __slots__ = (
        "_after_response",
        "_after_route",
        "_endpoint_ok",
        "_registry",
        "request_id",
        "route",
    )

    def __init__(
        self,
        registry: TaskRegistry,
        scope: MutableMapping[str, Any] | None = None,
    ) -> None:
        """The scheduler of the request whose ASGI ``scope`` is given, else of no request."""
        self._registry = registry
        self._endpoint_ok = True
        # The deferred tasks of each batch, waiting for its start point with their contexts;
        # None once that point has passed (later tasks of the batch start at once).
        self._after_route: _Held | None = None
        self._after_response: _Held | None = None
        if scope is None:
            # Outside a request there is nothing to wait for: both start points have passed.
            self.request_id: int | None = None
            self.route: str | None = None
            return
        self.request_id = next(_request_ids)
        try:
            self.route = _route_label(scope["method"], scope["route"].path)
        except (KeyError, AttributeError):  # not routed by FastAPI/Starlette
            self.route = _route_label(scope.get("method", "GET"), scope.get("path", ""))
        # Not inside a FastAPI route (no exit stacks): no start points to wait for.
        if watch_request_stages(scope, self):
            self._after_route = []
            self._after_response = []

    # ---- public API ----------------------------------------------------------------------
    # A new small batch object per access, not one kept here: a batch refers to its
    # scheduler, and a scheduler keeping its batches would be a reference cycle per
    # request, left for the garbage collector (measured: ~3 µs per request in GC passes).
    @property
    def after_route(self) -> TasksBatch:
        """Tasks started after the endpoint returned, before the response is sent."""
        return TasksBatch(self, TaskMode.AFTER_ROUTE)

    @property
    def after_response(self) -> TasksBatch:
        """Tasks started after the response body was sent (or the client disconnected)."""
        return TasksBatch(self, TaskMode.AFTER_RESPONSE)

    @property
    def registry(self) -> TaskRegistry:
        """The app's ``TaskRegistry``."""
        return self._registry

    @overload
    def schedule(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    @overload
    def schedule(
        self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[P, R]: ...
    def schedule(
        self, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> Task[..., Any]:
        """Start ``fn(*args, **kwargs)`` now, concurrently with the endpoint; returns the ``Task``."""
        registry = self._registry
        task = Task(fn, args, kwargs, registry.config, self.request_id, self.route)
        registry.start(task, contextvars.copy_context())
        return task

    def _target(self) -> tuple[TasksScheduler, TaskMode]:
        return self, TaskMode.IMMEDIATE

    # ---- internals -----------------------------------------------------------------------
    def _start_now(
        self,
        config: TaskConfig,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Task:
        """An immediate task with its own config: started at once (as ``schedule``)."""
        task = Task(fn, args, kwargs, config, self.request_id, self.route)
        self._registry.start(task, contextvars.copy_context())
        return task

    def _defer(
        self,
        mode: TaskMode,
        config: TaskConfig,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Task:
        """A task of a batch: held until its start point, or started now if that has passed."""
        task = Task(fn, args, kwargs, config, self.request_id, self.route, mode)
        context = contextvars.copy_context()
        held = (
            self._after_route if mode is TaskMode.AFTER_ROUTE else self._after_response
        )
        if held is None:
            # Its start point has already passed (or there is no request): start it now.
            self._registry.start(task, context)
        else:
            held.append((task, context))
            self._registry.hold(task)
        return task

    # ---- the two start points ------------------------------------------------------------
    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        """Called by FastAPI's exit stacks (see ``exit_stacks``): first when the endpoint
        returned or raised, then when the response was sent."""
        route_held = self._after_route
        if route_held is not None:  # the first call: the endpoint returned or raised
            self._after_route = None
            if exc_type is not None:
                # The endpoint raised: neither batch of this request starts.
                self._endpoint_ok = False
                dropped = route_held + (self._after_response or [])
                self._after_response = []
                self._registry.drop(task for task, _ in dropped)
            elif route_held:
                self._registry.start_held(route_held)
            return
        # The second call: the response was sent.
        held, self._after_response = self._after_response, None
        if held:
            if self._endpoint_ok:
                self._registry.start_held(held)
            else:  # scheduled after the endpoint raised (e.g. by a dependency's teardown)
                self._registry.drop(task for task, _ in held)
