"""``fastapi-tasks-demo walkthrough``: docs/tutorial.md, run against a live demo server.

Performs every step of the tutorial with httpx, prints each step with a progress counter and
a PASS/FAIL line per expectation, polls (with deadlines) for what happens in the
background, and exits 0 when everything matched, 1 on any mismatch, 2 when the server
cannot be reached (or is not in mock mode).
"""

import argparse
import secrets
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio
import httpx

from app.walkthrough.runner import (
    DEFAULT_URL,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Endpoint,
    Scenario,
    Step,
    run_steps,
)
from app.walkthrough.steps import STEPS

__all__ = [
    "DEFAULT_URL",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "STEPS",
    "Endpoint",
    "Step",
    "add_walkthrough_command",
    "new_scenario",
    "run_walkthrough",
]


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
    base_url: str = DEFAULT_URL,
    *,
    steps: Sequence[Step] | None = None,
    out: TextIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Run the tutorial (or ``steps``) against ``base_url``; returns the exit code."""
    return await run_steps(
        base_url.rstrip("/"),
        STEPS if steps is None else steps,
        out=sys.stdout if out is None else out,
        scenario=new_scenario(),
        transport=transport,
    )


def cmd_walkthrough(args: argparse.Namespace) -> int:
    """The ``walkthrough`` subcommand."""
    url: str = args.url
    return anyio.run(lambda: run_walkthrough(url))


def add_walkthrough_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    """Register ``walkthrough [--url URL]`` on the CLI's subcommands."""
    walkthrough = commands.add_parser(
        "walkthrough",
        help="run the tutorial's steps against a running demo server and check each one",
        description=(
            "Perform docs/tutorial.md step by step against a running server (mock mode), "
            "printing PASS/FAIL per expectation. Exit 0: all passed; 1: a mismatch; "
            "2: the server is unreachable or not in mock mode."
        ),
    )
    walkthrough.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"base URL of the running demo server (default {DEFAULT_URL})",
    )
    walkthrough.set_defaults(handler=cmd_walkthrough)
