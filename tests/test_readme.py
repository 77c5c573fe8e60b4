"""The README's promises: its configuration table matches ``Settings``, the make targets it
names exist, and what it says of the image matches the Dockerfile (tests/docker runs it)."""

import re
from pathlib import Path

import pytest

from app.config import Settings
from scripts.settings_table import render_table

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_in_readme() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- settings-table:start -->") + len(
        "<!-- settings-table:start -->"
    )
    end = text.index("<!-- settings-table:end -->")
    return text[start:end].strip()


def test_readme_configuration_table_matches_settings() -> None:
    assert _table_in_readme() == render_table(), (
        "README configuration table is stale: paste `.venv/bin/python scripts/settings_table.py`"
    )


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


def test_every_variable_in_the_table_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_GATEWAY__API_KEY", "sk_from_env")
    monkeypatch.setenv("ANALYTICS_BATCH_SIZE", "7")
    monkeypatch.setenv("MODE", "live")
    settings = Settings(_env_file=None)
    assert settings.payment_gateway.api_key.get_secret_value() == "sk_from_env"
    assert "sk_from_env" not in repr(settings)
    assert settings.analytics_batch_size == 7
    assert settings.mode == "live"


def test_every_make_target_the_docs_name_exists() -> None:
    # `make walkthrough`, `make docker-test`, `make lock`...: a renamed target would leave
    # the README and the tutorial pointing at nothing.
    root = README.parent
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    for page in (README, root / "docs" / "tutorial.md"):
        # `make x` in prose, or a line of a code block starting with it
        pattern = r"(?:^|`|\(|\b[A-Z_]+=\S+ )make ([a-z][\w-]*)"
        named = set(re.findall(pattern, page.read_text("utf-8"), re.MULTILINE))
        assert named, page
        assert named <= targets, f"{page.name}: no such target {named - targets}"


def test_the_readme_and_the_dockerfile_agree() -> None:
    text = README.read_text(encoding="utf-8")
    dockerfile = (README.parent / "Dockerfile").read_text(encoding="utf-8")
    assert "--uid 10001" in dockerfile
    assert "uid 10001" in text
    assert "VOLUME /app/data" in dockerfile
    assert "-v demo-data:/app/data" in text
    # A remapped port needs PUBLIC_BASE_URL; tests/docker checks both ways in the image.
    assert "-p 9000:8000 -e PUBLIC_BASE_URL=http://127.0.0.1:9000" in text
    assert "-p 9000:9000 -e PORT=9000" in text
