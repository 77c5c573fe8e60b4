"""The Docker tests run only when asked for (``make docker-test``, ``-m docker``).

They start a private ``dockerd``, build the image and run it: about two minutes, and root.
Elsewhere (``make test``) they are skipped with the command that runs them.
"""

from __future__ import annotations

import pytest

# What the image test measured, printed at the end of the run (see the terminal summary).
FIGURES: list[str] = []


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if "docker" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="builds and runs the Docker image: make docker-test")
    for item in items:
        if item.get_closest_marker("docker"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("docker image")
        for line in FIGURES:
            terminalreporter.write_line(line)
