"""Print the README's configuration table, rendered from ``Settings``.

    .venv/bin/python scripts/settings_table.py

``tests/test_readme.py`` fails when the README's table and ``Settings`` disagree.
"""

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from app.config import ServiceConfig, Settings

_SERVICE_FIELDS = {
    "base_url": "Base URL of the {name}",
    "api_key": "API key for the {name} (secret, never logged)",
    "timeout_s": "Timeout in seconds of one call to the {name}",
}


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(empty)" if not value.get_secret_value() else "(set)"
    return f"`{value}`"


def _rows() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        if isinstance(default, ServiceConfig):
            label = info.description or name
            for sub, sub_info in ServiceConfig.model_fields.items():
                rows.append(
                    (
                        f"{name}__{sub}".upper(),
                        _default(getattr(default, sub)),
                        _SERVICE_FIELDS.get(sub, _describe(sub_info)).format(
                            name=label
                        ),
                    )
                )
        elif not isinstance(default, BaseModel):
            rows.append((name.upper(), _default(default), _describe(info)))
    return rows


def _describe(info: FieldInfo) -> str:
    return info.description or ""


def render_table() -> str:
    """The markdown table of every environment variable the service reads."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    lines += [f"| `{env}` | {default} | {text} |" for env, default, text in _rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())  # noqa: T201
