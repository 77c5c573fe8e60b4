"""The README's promises: its configuration table matches ``Settings``."""

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
