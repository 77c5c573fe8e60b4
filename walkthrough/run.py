"""Run the tutorial's steps once, with fresh names, against a base URL."""

import secrets
import sys
from collections.abc import Sequence
from typing import TextIO

import httpx

from walkthrough.runner import (
    DEFAULT_URL,
    EXIT_UNREACHABLE,
    Scenario,
    Step,
    base_url,
    run_steps,
)
from walkthrough.steps import STEPS


def new_scenario() -> Scenario:
    """Fresh e-mail addresses and user ids, so a server that was used before still works."""
    suffix = secrets.token_hex(4)
    rng = secrets.SystemRandom()

    def random_id() -> int:
        return rng.randint(100_000, 999_999_999)

    return Scenario(
        suffix=suffix,
        order_email=f"shopper-{suffix}@example.com",
        order_user_id=random_id(),
        user_email=f"ada-{suffix}@example.com",
        image_user_id=random_id(),
        analytics_user_id=random_id(),
        outage_user_id=random_id(),
    )


async def run_walkthrough(
    url: str = DEFAULT_URL,
    *,
    steps: Sequence[Step] | None = None,
    out: TextIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run the tutorial (or ``steps``) against ``url``; returns the exit code."""
    out = sys.stdout if out is None else out
    try:
        base = base_url(url)
    except ValueError as error:
        out.write(f"walkthrough: {error}\n")
        return EXIT_UNREACHABLE
    return await run_steps(
        base,
        STEPS if steps is None else steps,
        out=out,
        scenario=new_scenario(),
        transport=transport,
    )
