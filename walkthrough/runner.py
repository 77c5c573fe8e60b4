"""The machinery of ``fastapi-tasks-demo walkthrough``: steps, checks, polling, the report.

A :class:`Step` declares the endpoints it calls (``"POST /orders"``); the runner refuses a
request to any other endpoint, and reports a step that did not call all of them. The same
declarations are what ``docs/tutorial.md`` is checked against, so the tutorial, the
walkthrough and the server cannot drift apart silently.
"""

import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO, TypeVar

import anyio
import httpx

T = TypeVar("T")

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNREACHABLE = 2

DEFAULT_URL = "http://127.0.0.1:8000"
SCHEMES = ("http", "https")
REQUEST_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
DEFAULT_DEADLINE_S = 10.0
# Every fault switch the contract defines, all off.
ALL_OK: Mapping[str, str] = dict.fromkeys(
    ("payment", "email", "cdn", "warehouse", "analytics", "alerts"), "ok"
)

_PLACEHOLDER = re.compile(r"\{(\w+)(:path)?\}")


@dataclass(frozen=True)
class Endpoint:
    """One route of the service, as ``METHOD /path/{param}`` (``{name:path}`` spans ``/``)."""

    method: str
    path: str

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        method, _, path = text.partition(" ")
        if not method.isupper() or not path.startswith("/"):
            raise ValueError(f"not an endpoint: {text!r}")
        return cls(method, path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def pattern(self) -> re.Pattern[str]:
        """A regex matching concrete paths of this endpoint (any non-empty segment value)."""
        parts: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(self.path):
            parts.append(re.escape(self.path[position : match.start()]))
            parts.append(".+" if match.group(2) else "[^/]+")
            position = match.end()
        parts.append(re.escape(self.path[position:]))
        return re.compile("".join(parts))

    def matches(self, method: str, path: str) -> bool:
        """Whether ``method path`` (a concrete path, no query) is a call of this endpoint."""
        return method == self.method and self.pattern().fullmatch(path) is not None

    def format(self, params: Mapping[str, object]) -> str:
        """The concrete path, e.g. ``/orders/7`` for ``/orders/{order_id}``."""
        return _PLACEHOLDER.sub(lambda match: str(params[match.group(1)]), self.path)


def base_url(text: str) -> str:
    """The server's base URL from what a user typed: ``127.0.0.1:8765`` means ``http://...``.

    Raises ``ValueError`` saying what is missing when it cannot be an http(s) URL.
    """
    text = text.strip()
    if (
        "://" not in text
    ):  # "localhost:8000" would otherwise parse as scheme "localhost"
        text = f"http://{text}"
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as error:
        raise ValueError(f"{text!r} is not a URL ({error})") from error
    if url.scheme not in SCHEMES or not url.host:
        raise ValueError(
            f"{text!r} is not an http(s) URL with a host; "
            f"expected something like {DEFAULT_URL} or 127.0.0.1:8000"
        )
    return str(url).rstrip("/")


class StepAbortedError(Exception):
    """A check the rest of the step depends on failed (already reported)."""


class ServerUnreachableError(Exception):
    """The service cannot be reached, or is not a demo (mock mode) server."""


class WalkthroughBugError(Exception):
    """The walkthrough itself is wrong (e.g. calls an endpoint its step does not declare)."""


@dataclass
class CheckResult:
    label: str
    passed: bool
    detail: str = ""


@dataclass
class StepResult:
    number: int
    title: str
    checks: list[CheckResult] = field(default_factory=list)
    aborted: str | None = None

    @property
    def passed(self) -> bool:
        return self.aborted is None and all(check.passed for check in self.checks)


@dataclass
class Report:
    steps: list[StepResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.steps)

    @property
    def check_counts(self) -> tuple[int, int]:
        checks = [check for step in self.steps for check in step.checks]
        return sum(check.passed for check in checks), sum(
            not check.passed for check in checks
        )


@dataclass
class Scenario:
    """What one run remembers between steps (fresh names, so reruns never collide)."""

    suffix: str
    product: dict[str, Any] | None = None
    order_email: str = ""
    order_user_id: int = 0
    user_email: str = ""
    user_id: int | None = None
    verification_token: str | None = None
    image_user_id: int = 0
    analytics_user_id: int = 0
    outage_user_id: int = 0


def parse_time(value: str) -> datetime:
    """A timestamp of the service's JSON (ISO 8601, ``Z`` or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def json_decimal(response: httpx.Response) -> Any:
    """The response's JSON with numbers that have a fraction as exact ``Decimal``."""
    return json.loads(response.text, parse_float=Decimal)


def short(value: object, limit: int = 160) -> str:
    """A one-line, bounded rendering of a value for a FAIL line."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepContext:
    """What a step function gets: HTTP calls restricted to its endpoints, checks, polling."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        step: "Step",
        result: StepResult,
        scenario: Scenario,
        out: TextIO,
    ) -> None:
        self.http = http
        self.step = step
        self.result = result
        self.scenario = scenario
        self._out = out
        self.called: set[Endpoint] = set()

    # -- reporting ---------------------------------------------------------------------
    def check(self, label: str, passed: bool, detail: object = "") -> bool:
        """Record and print one expectation; returns whether it held."""
        text = "" if passed or detail == "" else short(detail)
        self.result.checks.append(CheckResult(label, passed, text))
        line = f"       {'PASS' if passed else 'FAIL'}  {label}"
        if text:
            line += f"\n             got: {text}"
        self._out.write(line + "\n")
        self._out.flush()
        return passed

    def must(self, label: str, passed: bool, detail: object = "") -> None:
        """Like :meth:`check`, but the rest of the step depends on it: abort if it fails."""
        if not self.check(label, passed, detail):
            raise StepAbortedError(label)

    def require(self, label: str, passed: bool, detail: object = "") -> None:
        """A precondition: silent when it holds, a FAIL that stops the step otherwise."""
        if not passed:
            self.must(label, passed, detail)

    def note(self, text: str) -> None:
        """An informational line (values that vary between runs, what to look at)."""
        self._out.write(f"             {text}\n")
        self._out.flush()

    def expect_status(
        self, response: httpx.Response, status: int, label: str | None = None
    ) -> None:
        """The answer must have ``status`` (the step stops otherwise)."""
        request = response.request
        what = label or f"{request.method} {request.url.path} → {status}"
        self.must(
            what,
            response.status_code == status,
            f"HTTP {response.status_code} {response.text}",
        )

    # -- HTTP --------------------------------------------------------------------------
    def _endpoint(self, method: str, template: str) -> Endpoint:
        endpoint = Endpoint(method, template)
        if endpoint not in self.step.endpoints:
            raise WalkthroughBugError(
                f"step {self.step.title!r} calls {endpoint}, which it does not declare"
            )
        return endpoint

    async def call(
        self,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> httpx.Response:
        """Call a declared endpoint (``template`` as declared, values in ``path_params``)."""
        endpoint = self._endpoint(method, template)
        self.called.add(endpoint)
        return await self.http.request(
            method,
            endpoint.format(path_params or {}),
            params=params,
            json=json_body,
            files=files,
        )

    async def get_json(
        self,
        template: str,
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """``GET`` a declared endpoint that must answer 200, and return its JSON."""
        response = await self.call(
            "GET", template, path_params=path_params, params=params
        )
        self.require(
            f"GET {response.request.url.path} → 200",
            response.status_code == 200,
            f"HTTP {response.status_code} {response.text}",
        )
        return response.json()

    async def poll(
        self,
        label: str,
        fetch: Callable[[], Awaitable[T]],
        done: Callable[[T], bool],
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        must: bool = True,
    ) -> T:
        """Fetch until ``done(value)`` or the deadline; one PASS/FAIL line for the wait."""
        started = time.monotonic()
        value = await fetch()
        while not done(value) and time.monotonic() - started < deadline_s:
            await anyio.sleep(POLL_INTERVAL_S)
            value = await fetch()
        ok = done(value)
        waited = f"{label} (within {deadline_s:g} s)"
        if must:
            self.must(waited, ok, value)
        else:
            self.check(waited, ok, value)
        return value

    # -- the fake systems (GET /demo/...) ------------------------------------------------
    async def calls_to(self, service: str) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = await self.get_json(
            "/demo/calls", params={"service": service}
        )
        return calls

    async def outbox(self) -> list[dict[str, Any]]:
        mails: list[dict[str, Any]] = await self.get_json("/demo/outbox")
        return mails

    async def tasks(self) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = await self.get_json("/demo/tasks")
        return tasks

    async def latest_time(self, source: str) -> datetime | None:
        """The newest timestamp of ``tasks`` (scheduled) or a service's calls, if any."""
        if source == "tasks":
            stamps = [
                t["scheduled_at"] for t in await self.tasks() if t["scheduled_at"]
            ]
        else:
            stamps = [call["at"] for call in await self.calls_to(source)]
        return max((parse_time(stamp) for stamp in stamps), default=None)


def newer(
    items: Sequence[dict[str, Any]], key: str, since: datetime | None
) -> list[dict[str, Any]]:
    """The items whose timestamp ``key`` is after ``since`` (all of them if None)."""
    return [
        item
        for item in items
        if item.get(key) is not None
        and (since is None or parse_time(item[key]) > since)
    ]


StepFn = Callable[[StepContext], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One numbered step: a title (the tutorial's heading), its endpoints, its function."""

    title: str
    endpoints: tuple[Endpoint, ...]
    run: StepFn


async def _preflight(http: httpx.AsyncClient, base_url: str) -> None:
    """The server answers ``/health`` and has the ``/demo`` extras (mock mode)."""
    try:
        health = await http.get("/health")
        faults = await http.get("/demo/faults")
    except httpx.TransportError as error:
        raise ServerUnreachableError(
            f"cannot reach the demo service at {base_url} ({type(error).__name__}). "
            "Start it with `make demo` (or `fastapi-tasks-demo serve`), "
            "or pass --url URL."
        ) from error
    if health.status_code != 200:
        raise ServerUnreachableError(
            f"{base_url}/health answered HTTP {health.status_code}: "
            "is this the fastapi-tasks demo service?"
        )
    if faults.status_code != 200:
        raise ServerUnreachableError(
            f"{base_url}/demo/faults answered HTTP {faults.status_code}: the walkthrough "
            "needs the demo extras, which exist only in mock mode (MODE=mock)."
        )


async def _reset_faults(http: httpx.AsyncClient) -> None:
    """Best effort: leave every fake system working (at the start and at the end)."""
    with contextlib.suppress(httpx.HTTPError):
        await http.put("/demo/faults", json=dict(ALL_OK))


async def _run_step(
    number: int,
    total: int,
    step: Step,
    *,
    http: httpx.AsyncClient,
    scenario: Scenario,
    out: TextIO,
) -> StepResult:
    result = StepResult(number, step.title)
    out.write(f"[{number}/{total}] {step.title}\n")
    out.flush()
    context = StepContext(
        http=http, step=step, result=result, scenario=scenario, out=out
    )
    try:
        await step.run(context)
    except StepAbortedError as aborted:
        result.aborted = str(aborted)
        context.note("(rest of this step skipped: it depends on the failed check)")
    except httpx.TransportError as error:
        result.aborted = f"request failed: {type(error).__name__}"
        context.check("the server answered every request", False, result.aborted)
    else:
        missing = [str(e) for e in step.endpoints if e not in context.called]
        if missing:
            context.check(
                "the step called every endpoint the tutorial shows for it",
                False,
                missing,
            )
    return result


async def run_steps(
    base_url: str,
    steps: Sequence[Step],
    *,
    out: TextIO,
    scenario: Scenario,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run ``steps`` in order against ``base_url``; the process exit code (0, 1 or 2)."""
    report = Report()
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, transport=transport
    ) as http:
        try:
            await _preflight(http, base_url)
        except ServerUnreachableError as error:
            out.write(f"walkthrough: {error}\n")
            return EXIT_UNREACHABLE
        out.write(f"fastapi-tasks demo walkthrough against {base_url}\n\n")
        await _reset_faults(http)
        try:
            for number, step in enumerate(steps, start=1):
                result = await _run_step(
                    number, len(steps), step, http=http, scenario=scenario, out=out
                )
                report.steps.append(result)
                if result.aborted and result.aborted.startswith("request failed"):
                    try:
                        await _preflight(http, base_url)
                    except ServerUnreachableError as error:
                        out.write(f"\nwalkthrough: the server went away: {error}\n")
                        return EXIT_UNREACHABLE
        finally:
            with anyio.CancelScope(shield=True):
                await _reset_faults(http)
    passed, failed = report.check_counts
    steps_ok = sum(step.passed for step in report.steps)
    out.write(
        f"\n{steps_ok}/{len(report.steps)} steps passed; "
        f"{passed} checks passed, {failed} failed.\n"
    )
    if not report.passed:
        names = ", ".join(str(s.number) for s in report.steps if not s.passed)
        out.write(f"FAILED steps: {names}\n")
        return EXIT_MISMATCH
    out.write("Everything the tutorial promises happened.\n")
    return EXIT_OK
