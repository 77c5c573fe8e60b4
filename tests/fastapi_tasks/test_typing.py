"""Typing: schedule() is checked against the function's signature; the package is typed."""

import re
from pathlib import Path

from mypy import api

import fastapi_tasks

HERE = Path(__file__).parent
OK_CASES = HERE / "typing_ok_cases.py"
FAIL_CASES = HERE / "typing_fail_cases.py"


def expected_errors() -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(FAIL_CASES.read_text().splitlines(), start=1):
        marker = re.search(r"# E: ([a-z-]+)", line)
        if marker:
            expected.add((number, marker.group(1)))
    return expected


def test_mypy_accepts_good_usage_and_rejects_misuse() -> None:
    stdout, stderr, _status = api.run(
        [
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            str(OK_CASES),
            str(FAIL_CASES),
        ]
    )
    assert stderr == ""
    found: set[tuple[int, str]] = set()
    for line in stdout.splitlines():
        match = re.match(r"(.+?):(\d+): error: .*\[([a-z-]+)\]$", line)
        if match is None:
            continue
        path, number, code = match.groups()
        assert Path(path).name == FAIL_CASES.name, f"good usage rejected: {line}"
        found.add((int(number), code))
    assert found == expected_errors(), stdout


def test_package_ships_py_typed() -> None:
    assert (Path(fastapi_tasks.__file__).parent / "py.typed").is_file()
