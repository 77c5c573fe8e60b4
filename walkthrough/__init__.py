"""``fastapi-tasks-demo walkthrough``: docs/tutorial.md, run against a live demo server.

A client program, apart from the service (it imports nothing from ``app``): it performs
every step of the tutorial with httpx, prints each step with a progress counter and a
PASS/FAIL line per expectation, polls (with deadlines) for what happens in the background,
and exits 0 when everything matched, 1 on any mismatch, 2 when the server cannot be
reached (or is not in mock mode).

Modules: ``runner`` (steps, checks, polling, the report), ``helpers`` (what the steps
share), one module per example (``orders``, ``users``, ``images``, ``analytics``) plus
``basics``, ``steps`` (their order), ``run`` and ``command`` (the CLI subcommand).
"""

from walkthrough.command import add_walkthrough_command
from walkthrough.run import new_scenario, run_walkthrough
from walkthrough.runner import (
    DEFAULT_URL,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Endpoint,
    Step,
    base_url,
)
from walkthrough.steps import STEPS

__all__ = [
    "DEFAULT_URL",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "STEPS",
    "Endpoint",
    "Step",
    "add_walkthrough_command",
    "base_url",
    "new_scenario",
    "run_walkthrough",
]
