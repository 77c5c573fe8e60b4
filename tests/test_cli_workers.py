"""``serve --workers N`` / ``WORKERS``: how many processes, and a clear refusal otherwise."""

import pytest

from app.cli import main, worker_count


def test_workers_come_from_the_flag_then_the_environment_then_one() -> None:
    assert worker_count(3, {"WORKERS": "5"}) == 3
    assert worker_count(None, {"WORKERS": " 5 "}) == 5
    assert worker_count(None, {}) == 1
    assert worker_count(None, {"WORKERS": ""}) == 1


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--workers", "0"], {}, "--workers must be at least 1 (got 0)"),
        ([], {"WORKERS": "many"}, "WORKERS='many' is not a number"),
    ],
)
def test_a_bad_worker_count_is_one_line_and_exit_2(
    argv: list[str],
    environ: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "0", *argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"fastapi-tasks-demo serve: {message}\n"
