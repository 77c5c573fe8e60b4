"""The ``walkthrough`` subcommand of ``fastapi-tasks-demo``."""

import argparse

import anyio

from walkthrough.run import run_walkthrough
from walkthrough.runner import DEFAULT_URL, base_url


def _url(text: str) -> str:
    # argparse turns the ValueError into "argument --url: ..." and exit status 2.
    try:
        return base_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def cmd_walkthrough(args: argparse.Namespace) -> int:
    """Run the tutorial against ``--url``; the exit code of :func:`run_walkthrough`."""
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
        type=_url,
        default=DEFAULT_URL,
        help=f"base URL of the running demo server (default {DEFAULT_URL}; "
        "http:// is assumed when no scheme is given)",
    )
    walkthrough.set_defaults(handler=cmd_walkthrough)
