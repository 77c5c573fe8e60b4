"""The registration example: register, verify the address, and an e-mail outage."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from walkthrough import timing
from walkthrough.helpers import (
    check_fields,
    check_modes,
    mentions,
    set_fault,
    step,
    wait_for_tasks,
)
from walkthrough.runner import StepContext, newer

PASSWORD = "correct horse battery"
REGISTRATION_TASKS = {
    "users.send_verification_email": "after_response",
    "users.track_registration": "after_response",
}


@step(
    "Register → 201 and a verification e-mail",
    "POST /register",
    "GET /demo/outbox",
    "GET /demo/tasks",
)
async def register(ctx: StepContext) -> None:
    scenario = ctx.scenario
    since = await ctx.latest_time("tasks")
    response = await ctx.call(
        "POST",
        "/register",
        json_body={"email": scenario.user_email, "password": PASSWORD, "name": "Ada"},
    )
    ctx.expect_status(response, 201, "POST /register → 201 Created")
    body = response.json()
    ctx.must(
        'answer is {"user_id": <int>, "message": ...}',
        isinstance(body.get("user_id"), int) and bool(body.get("message")),
        body,
    )
    scenario.user_id = int(body["user_id"])
    ctx.note(f"user_id = {scenario.user_id} (varies), e-mail {scenario.user_email}")

    async def verification_mails() -> list[dict[str, Any]]:
        return [
            mail
            for mail in await ctx.outbox()
            if mail["to"] == scenario.user_email
            and mail["template"] == "email_verification"
        ]

    mails = await ctx.poll(
        "the verification e-mail is in /demo/outbox",
        verification_mails,
        bool,
        deadline_s=timing.SETTLE_DEADLINE_S,
    )
    url = str(mails[0]["data"].get("verification_url", ""))
    tokens = parse_qs(urlsplit(url).query).get("token", [])
    ctx.must(
        "its data.verification_url ends in ?token=<token>",
        len(tokens) == 1 and url.endswith(f"token={tokens[0]}"),
        "no token in the link",
    )
    scenario.verification_token = tokens[0]
    ctx.note(f"token found ({len(tokens[0])} characters; not printed)")
    found = await wait_for_tasks(ctx, REGISTRATION_TASKS, since)
    check_modes(ctx, found, REGISTRATION_TASKS)


@step(
    "Verify the e-mail address → verified, welcome e-mail",
    "POST /verify",
    "GET /users/{user_id}",
    "GET /demo/outbox",
)
async def verify(ctx: StepContext) -> None:
    scenario = ctx.scenario
    token, user_id = scenario.verification_token, scenario.user_id
    ctx.require(
        "a token and a user came from the registration step", bool(token and user_id)
    )
    assert token is not None
    response = await ctx.call("POST", "/verify", params={"token": token})
    ctx.expect_status(response, 200, "POST /verify?token=... → 200")
    ctx.check(
        'answer is {"message": "Email verified successfully"}',
        response.json() == {"message": "Email verified successfully"},
        response.json(),
    )
    user = await ctx.get_json("/users/{user_id}", path_params={"user_id": user_id})
    check_fields(
        ctx, user, {"user_id": user_id, "email": scenario.user_email, "verified": True}
    )
    ctx.check(
        "its notifications: the verification e-mail, sent (an outbox row)",
        [
            (n.get("topic"), n.get("status"))
            for n in user.get("notifications", [])
            if n.get("topic") == "email_verification"
        ]
        == [("email_verification", "sent")],
        user.get("notifications"),
    )
    again = await ctx.call("POST", "/verify", params={"token": token})
    ctx.check(
        "the same token a second time → 400 Invalid or expired token",
        again.status_code == 400
        and again.json() == {"detail": "Invalid or expired token"},
        f"HTTP {again.status_code} {again.text}",
    )

    async def welcome() -> list[dict[str, Any]]:
        return [
            mail
            for mail in await ctx.outbox()
            if mail["to"] == scenario.user_email and mail["template"] == "welcome"
        ]

    await ctx.poll(
        "a welcome e-mail arrives (after_response)",
        welcome,
        bool,
        deadline_s=timing.SETTLE_DEADLINE_S,
        must=False,
    )


@step(
    "E-mail outage → registration still 201, retries, then one alert",
    "PUT /demo/faults",
    "POST /register",
    "GET /demo/tasks",
    "GET /demo/calls",
    "GET /users/{user_id}",
    "POST /verification/resend",
)
async def email_outage(ctx: StepContext) -> None:
    scenario = ctx.scenario
    address = f"outage-{scenario.suffix}@example.com"
    await set_fault(ctx, "email", "down")
    try:
        since = await ctx.latest_time("tasks")
        alerts_since = await ctx.latest_time("alerts")
        response = await ctx.call(
            "POST",
            "/register",
            json_body={"email": address, "password": PASSWORD, "name": "Bob"},
        )
        ctx.expect_status(
            response, 201, "POST /register → 201 even though e-mail is down"
        )
        user_id = int(response.json()["user_id"])
        found = await wait_for_tasks(
            ctx,
            {"users.send_verification_email": "after_response"},
            since,
            deadline_s=timing.EMAIL_OUTAGE_DEADLINE_S,
        )
        task = found["users.send_verification_email"]
        ctx.check(
            "users.send_verification_email: after_response, failed after 4 attempts",
            task["mode"] == "after_response"
            and task["state"] == "failed"
            and task["attempts"] == 4,
            {key: task.get(key) for key in ("mode", "state", "attempts", "error")},
        )
        sent = [
            call
            for call in await ctx.calls_to("email")
            if isinstance(call["body"], dict) and call["body"].get("to") == address
        ]
        ctx.check(
            "the e-mail service saw 4 attempts, each answered 503",
            [call["status"] for call in sent] == [503] * 4,
            [call["status"] for call in sent],
        )

        async def promised() -> list[dict[str, Any]]:
            user = await ctx.get_json(
                "/users/{user_id}", path_params={"user_id": user_id}
            )
            notifications: list[dict[str, Any]] = user.get("notifications", [])
            return notifications

        def settled(rows: list[dict[str, Any]]) -> bool:
            return any(row.get("kind") == "alert" for row in rows)

        rows = await ctx.poll(
            "GET /users/{id}: the e-mail's outbox row failed and an alert row was added",
            promised,
            settled,
            deadline_s=timing.SETTLE_DEADLINE_S,
        )
        emails = [row for row in rows if row.get("topic") == "email_verification"]
        ctx.must(
            "the verification e-mail: failed after 4 attempts, HTTP 503 recorded",
            len(emails) == 1
            and emails[0].get("status") == "failed"
            and emails[0].get("attempts") == 4
            and "503" in str(emails[0].get("last_error")),
            emails,
        )
        message_id = int(emails[0]["message_id"])

        async def row_alerts() -> list[dict[str, Any]]:
            return [
                alert
                for alert in newer(await ctx.calls_to("alerts"), "at", alerts_since)
                if mentions(alert["body"], message_id)
            ]

        alerts = await ctx.poll(
            "an alert about that e-mail arrives",
            row_alerts,
            bool,
            deadline_s=timing.SETTLE_DEADLINE_S,
        )
        ctx.check("exactly one alert (not one per attempt)", len(alerts) == 1, alerts)
    finally:
        await set_fault(ctx, "email", "ok")

    # The link is gone with the failed e-mail: Bob asks for a new one. Within a minute of
    # the last link nothing is sent, and the answer cannot tell him (or anyone) that.
    answers = []
    for who in (address, f"nobody-{scenario.suffix}@example.com"):
        answer = await ctx.call(
            "POST", "/verification/resend", json_body={"email": who}
        )
        answers.append((answer.status_code, answer.json()))
    ctx.check(
        "POST /verification/resend → 202, the same answer for Bob and for nobody",
        answers[0][0] == 202 and answers[0] == answers[1],
        answers,
    )
