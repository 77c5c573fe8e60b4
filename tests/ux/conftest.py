"""Markers used by the UX tests."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: builds a wheel / venv or drives a browser (seconds, not milliseconds)",
    )
