"""The layout keeps the service apart from the demo tooling, and imports run down the layers.

- ``walkthrough/`` is a client of the service: it imports nothing from ``app``.
- ``app/clients`` sits below the examples and analytics: it imports none of them.
- Only ``app/main.py`` mounts ``app/demo`` (the mock-mode extras), and only the CLI reaches
  for the walkthrough; every ``/demo`` route is declared under ``app/demo``.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.demo import cdn_files, views
from app.main import create_app

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports (absolute names; ``from x import y`` gives ``x``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def within(name: str, packages: tuple[str, ...]) -> bool:
    """Whether module ``name`` is one of ``packages`` or inside one."""
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(folder)
        for name in imports(path)
        if within(name, forbidden)
    ]


def test_the_walkthrough_imports_nothing_from_the_service() -> None:
    assert modules("walkthrough")
    assert offenders("walkthrough", ("app",)) == []


@pytest.mark.parametrize(
    "above", ["app.analytics", "app.orders", "app.users", "app.images", "app.outbox"]
)
def test_clients_import_nothing_above_them(above: str) -> None:
    assert offenders("app/clients", (above,)) == []


def test_only_the_factory_mounts_the_demo_and_only_the_cli_runs_the_walkthrough() -> (
    None
):
    allowed = {ROOT / "app" / "main.py", ROOT / "app" / "cli.py"}
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules("app")
        if path not in allowed and not path.is_relative_to(ROOT / "app" / "demo")
        for name in imports(path)
        if within(name, ("app.demo", "walkthrough"))
    ]
    assert found == []


def test_every_demo_route_is_declared_under_app_demo(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]
    demo_paths = {path for path in paths if path.startswith("/demo")}
    routes = [*views.router.routes, *cdn_files.router.routes]
    # OpenAPI writes the path converter {path:path} as {path}
    declared = {getattr(r, "path", "").replace(":path}", "}") for r in routes}
    assert demo_paths
    assert demo_paths <= declared
