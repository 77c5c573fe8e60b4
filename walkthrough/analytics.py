"""The analytics example: ten events in one batch, and an outage that keeps them."""

from typing import Any

from walkthrough import timing
from walkthrough.helpers import set_fault, step
from walkthrough.runner import StepContext


async def track(ctx: StepContext, user_id: int, count: int, event: str) -> None:
    statuses = []
    for number in range(1, count + 1):
        response = await ctx.call(
            "POST",
            "/track",
            json_body={
                "event": event,
                "user_id": user_id,
                "properties": {"page": f"/tutorial/{number}"},
            },
        )
        statuses.append((response.status_code, response.json()))
    ctx.must(
        f'{count} x POST /track → 202 {{"status": "tracked"}}',
        all(entry == (202, {"status": "tracked"}) for entry in statuses),
        statuses,
    )


def batches_of(calls: list[dict[str, Any]], user_id: int) -> list[dict[str, Any]]:
    return [
        call
        for call in calls
        if isinstance(call["body"], dict)
        and any(e.get("user_id") == user_id for e in call["body"].get("events", []))
    ]


@step(
    "10 events → one batch to the analytics service", "POST /track", "GET /demo/calls"
)
async def analytics_batch(ctx: StepContext) -> None:
    user_id = ctx.scenario.analytics_user_id
    ctx.note(f"user_id = {user_id} (random, so earlier runs do not interfere)")
    await track(ctx, user_id, 10, "page_view")

    async def delivered() -> list[dict[str, Any]]:
        return batches_of(await ctx.calls_to("analytics"), user_id)

    batches = await ctx.poll(
        "a batch with this user's events reaches the analytics service",
        delivered,
        bool,
        deadline_s=timing.ANALYTICS_DEADLINE_S,
    )
    events = batches[0]["body"]["events"]
    ctx.check(
        "exactly one batch (one POST), carrying all 10 events",
        len(batches) == 1 and len(events) == 10,
        [len(batch["body"]["events"]) for batch in batches],
    )
    ctx.check(
        "each event has event, user_id, properties, timestamp",
        all(
            {"event", "user_id", "properties", "timestamp"} <= e.keys() for e in events
        ),
        events[:1],
    )


@step(
    "Analytics outage → events land in /analytics/events",
    "PUT /demo/faults",
    "POST /track",
    "GET /analytics/events",
    "GET /demo/calls",
)
async def analytics_outage(ctx: StepContext) -> None:
    user_id = ctx.scenario.outage_user_id
    await set_fault(ctx, "analytics", "down")
    try:
        ctx.note(f"user_id = {user_id} (random)")
        await track(ctx, user_id, 3, "checkout_started")

        async def stored() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = await ctx.get_json(
                "/analytics/events", params={"user_id": user_id}
            )
            return events

        events = await ctx.poll(
            "the 3 events appear in GET /analytics/events (after the flush interval)",
            stored,
            lambda events: len(events) >= 3,
            deadline_s=timing.ANALYTICS_DEADLINE_S,
        )
        ctx.check(
            "exactly those 3 events, in the batch shape",
            len(events) == 3
            and all(e["user_id"] == user_id for e in events)
            and all(
                {"event", "user_id", "properties", "timestamp"} <= e.keys()
                for e in events
            ),
            events,
        )
        refused = batches_of(await ctx.calls_to("analytics"), user_id)
        ctx.check(
            "the analytics service refused the batch (503 in /demo/calls)",
            bool(refused) and all(call["status"] == 503 for call in refused),
            [call["status"] for call in refused],
        )
    finally:
        await set_fault(ctx, "analytics", "ok")
