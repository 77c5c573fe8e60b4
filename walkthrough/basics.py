"""The steps around the examples: the service is up, the dashboard, the final reset."""

from walkthrough.helpers import step
from walkthrough.runner import ALL_OK, StepContext

LANES = ("immediate", "after_route", "after_response")


@step(
    "Check the service and reset the fault switches", "GET /health", "PUT /demo/faults"
)
async def service_is_up(ctx: StepContext) -> None:
    response = await ctx.call("GET", "/health")
    ctx.expect_status(response, 200)
    ctx.check('GET /health says {"status": "ok"}', response.json() == {"status": "ok"})
    response = await ctx.call("PUT", "/demo/faults", json_body=dict(ALL_OK))
    ctx.expect_status(response, 200)
    ctx.check(
        "every fake system is 'ok'", response.json() == dict(ALL_OK), response.json()
    )


@step("Open the dashboard", "GET /", "GET /demo/tasks")
async def dashboard(ctx: StepContext) -> None:
    response = await ctx.call("GET", "/")
    ctx.expect_status(response, 200, "GET / → 200 (the live dashboard)")
    ctx.check(
        "it is an HTML page with the immediate, after_route and after_response lanes",
        response.headers.get("content-type", "").startswith("text/html")
        and all(lane in response.text for lane in LANES),
        response.headers.get("content-type"),
    )
    tasks = await ctx.tasks()
    fields = {"name", "mode", "state", "attempts", "scheduled_at", "finished_at"}
    ctx.check(
        "GET /demo/tasks lists tasks with name, mode, state, attempts, times",
        all(fields <= task.keys() for task in tasks),
        tasks[:1],
    )
    ctx.note(f"open {ctx.http.base_url}/ in a browser and keep it open")


@step("Reset the fault switches", "PUT /demo/faults")
async def reset(ctx: StepContext) -> None:
    response = await ctx.call("PUT", "/demo/faults", json_body=dict(ALL_OK))
    ctx.expect_status(response, 200)
    ctx.check(
        "every fake system is 'ok' again",
        response.json() == dict(ALL_OK),
        response.json(),
    )
