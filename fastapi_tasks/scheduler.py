"""``TasksScheduler`` (what ``tasks: Tasks`` gives) and its two deferred batches."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, ParamSpec, TypeVar, overload

import anyio

from fastapi_tasks.config import TaskConfig, TaskErrorHandler
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.task import Task, TaskMode

__all__ = [
    "ConfiguredScheduler",
    "TaskBatch",
    "TasksBatch",
    "TasksScheduler",
    "new_request_scheduler",
]

P = ParamSpec("P")
R = TypeVar("R")

# FastAPI (>= 0.121) puts two AsyncExitStacks in the scope of every route call; see
# new_request_scheduler.
FUNCTION_STACK_KEY = "fastapi_function_astack"
REQUEST_STACK_KEY = "fastapi_inner_astack"

_request_ids = itertools.count(1)
_copy_context = contextvars.copy_context
_get_running_loop = asyncio.get_running_loop
_now = time.time

_IMMEDIATE = TaskMode.IMMEDIATE
_AFTER_ROUTE = TaskMode.AFTER_ROUTE
_AFTER_RESPONSE = TaskMode.AFTER_RESPONSE


class _TaskConfigurer:
    """The ``.task(...)`` shared by ``TasksScheduler`` (immediate) and ``TasksBatch``."""

    __slots__ = ()

    def _target(self) -> tuple[TasksScheduler, TaskMode]:
        raise NotImplementedError

    def task(
        self,
        *,
        name: str | None = None,
        shield: bool | None = None,
        on_error: TaskErrorHandler | None = None,
        retries: int | None = None,
        retry_delay: float | None = None,
        retry_backoff: float | None = None,
        retry_jitter: float | None = None,
        retry_on: tuple[type[BaseException], ...] | None = None,
        timeout: float | None = None,
        limit: int | anyio.CapacityLimiter | None = None,
    ) -> ConfiguredScheduler:
        """Configure one task of this mode (per-task settings win over the app's config)."""
        scheduler, mode = self._target()
        config = scheduler._registry.config.merge(
            TaskConfig(
                name,
                shield,
                on_error,
                retries,
                retry_delay,
                retry_backoff,
                retry_jitter,
                retry_on,
                timeout,
                limit,
            )
        )
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
        return self._scheduler._schedule(self._mode, self._config, fn, args, kwargs)


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
        return scheduler._schedule(
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
        "_batches",
        "_endpoint_ok",
        "_phase",
        "_registry",
        "request_id",
        "route",
    )

    def __init__(
        self,
        registry: TaskRegistry,
        request_id: int | None = None,
        route: str | None = None,
    ) -> None:
        self._registry = registry
        self.request_id = request_id
        self.route = route
        self._after_route: list[Task] | None = None
        self._after_response: list[Task] | None = None
        self._batches: tuple[TasksBatch, TasksBatch] | None = None
        self._endpoint_ok = True
        # 0: endpoint running, 1: endpoint returned (response being sent), 2: response sent.
        # Outside a request there is nothing to wait for: 2 from the start.
        self._phase = 2 if request_id is None else 0

    # ---- public API ----------------------------------------------------------------------
    @property
    def after_route(self) -> TasksBatch:
        """Tasks started after the endpoint returned, before the response is sent."""
        return (self._batches or self._make_batches())[0]

    @property
    def after_response(self) -> TasksBatch:
        """Tasks started after the response body was sent (or the client disconnected)."""
        return (self._batches or self._make_batches())[1]

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
        # ``_schedule``'s immediate branch, inlined: this is the most used call of the API.
        registry = self._registry
        task = Task(
            fn,
            args,
            kwargs,
            registry.config,
            _IMMEDIATE,
            _now(),
            self.request_id,
            self.route,
            registry,
        )
        registry._add(task, True)
        return task

    def _target(self) -> tuple[TasksScheduler, TaskMode]:
        return self, _IMMEDIATE

    # ---- internals -----------------------------------------------------------------------
    def _make_batches(self) -> tuple[TasksBatch, TasksBatch]:
        # Created on first use: most requests never touch a batch.
        batches = self._batches = (
            TasksBatch(self, _AFTER_ROUTE),
            TasksBatch(self, _AFTER_RESPONSE),
        )
        return batches

    def _schedule(
        self,
        mode: TaskMode,
        config: TaskConfig,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Task:
        registry = self._registry
        task = Task(
            fn,
            args,
            kwargs,
            config,
            mode,
            _now(),
            self.request_id,
            self.route,
            registry,
        )
        if mode is _IMMEDIATE:
            registry._add(task, True)
            return task
        phase = self._phase
        if phase >= 2 or (phase == 1 and mode is _AFTER_ROUTE):
            # Its start point has already passed (or there is no request): start now.
            registry._add(task, True)
            return task
        task._context = _copy_context()
        if mode is _AFTER_ROUTE:
            if self._after_route is None:
                self._after_route = [task]
            else:
                self._after_route.append(task)
        elif self._after_response is None:
            self._after_response = [task]
        else:
            self._after_response.append(task)
        registry._add(task, False)
        return task

    def _endpoint_returned(self, ok: bool) -> None:
        self._phase = 1
        self._endpoint_ok = ok
        pending = self._after_route
        if pending is not None:
            self._after_route = None
            if ok:
                self._registry._start_many(pending)
            else:
                self._registry._drop_many(pending)
        if not ok:
            pending = self._after_response
            if pending is not None:
                self._after_response = None
                self._registry._drop_many(pending)

    def _response_sent(self) -> None:
        self._phase = 2
        pending = self._after_response
        if pending is not None:
            self._after_response = None
            if self._endpoint_ok:
                self._registry._start_many(pending)
            else:
                self._registry._drop_many(pending)


class _StackHook:
    """Pushed on both FastAPI exit stacks: first exit = endpoint returned, second = response sent."""

    __slots__ = ("scheduler",)

    def __init__(self, scheduler: TasksScheduler) -> None:
        self.scheduler: TasksScheduler | None = scheduler

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: object,
    ) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        # Runs twice on every request that declares ``tasks: Tasks``, usually with nothing
        # deferred: then only the phase moves, without a further call.
        if scheduler._phase == 0:
            if exc_type is None and scheduler._after_route is None:
                scheduler._phase = 1
            else:
                scheduler._endpoint_returned(exc_type is None)
        else:
            self.scheduler = None
            if scheduler._after_response is None:
                scheduler._phase = 2
            else:
                scheduler._response_sent()


def new_request_scheduler(
    registry: TaskRegistry, scope: MutableMapping[str, Any]
) -> TasksScheduler:
    """The scheduler of one request: a new request id, its route, hooks on FastAPI's stacks."""
    route = scope.get("route")
    path = getattr(route, "path", None) or scope.get("path", "")
    scheduler = TasksScheduler(
        registry, next(_request_ids), f"{scope.get('method', 'GET')} {path}"
    )
    function_stack = scope.get(FUNCTION_STACK_KEY)
    request_stack = scope.get(REQUEST_STACK_KEY)
    if function_stack is None or request_stack is None:
        # Not inside a FastAPI route (or a FastAPI without these stacks): no start points
        # to wait for, so deferred tasks start when scheduled.
        scheduler._phase = 2
    else:
        # FastAPI closes the function stack when the endpoint (and its function-scoped
        # dependencies) returned or raised, before sending the response; it closes the
        # request stack after the response was sent (or sending failed, e.g. the client
        # disconnected). One hook on both: its first exit is the after-route point, its
        # second the after-response point. They are pushed here, not lazily at the first
        # deferred ``schedule``: only a hook pushed now runs after the teardown of
        # function-scoped dependencies resolved after ``Tasks``, and a late push could land
        # on a stack that is already closed (and never run).
        hook = _StackHook(scheduler)
        function_stack.push(hook)
        request_stack.push(hook)
    # Runs on the event loop (an async dependency): remember it for sync endpoints, whose
    # threads hand their tasks over to it.
    registry._loop = _get_running_loop()
    return scheduler
