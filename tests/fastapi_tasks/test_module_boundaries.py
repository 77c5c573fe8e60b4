"""No module of ``fastapi_tasks`` reads or imports another module's underscore names.

Each piece of state has one owner: a module uses its own private names and the public
names of the others. Checked statically with ``ast``: an ``x._name`` attribute (or
``getattr(x, "_name")``) must name something the same module defines, and on anything but
``self``/``cls`` that name must not also be defined by another module (so two modules cannot
share private state by using the same name); ``from fastapi_tasks.m import _name`` is refused.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import fastapi_tasks

PACKAGE = Path(fastapi_tasks.__file__).parent


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_private_names(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, assignments, slots, attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            names.update(
                c.value
                for c in ast.walk(node.value)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            )
    return {name for name in names if _is_private(name)}


def _private_uses(tree: ast.Module) -> Iterator[tuple[int, str, str | None]]:
    """(line, private name, receiver name if a plain name) of every private attribute use."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            receiver = node.value.id if isinstance(node.value, ast.Name) else None
            yield node.lineno, node.attr, receiver
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield node.lineno, node.args[1].value, None


def cross_module_private_access(sources: dict[str, str]) -> list[str]:
    """Every violation in ``sources`` (module name -> source), as ``module:line: message``."""
    trees = {module: ast.parse(source) for module, source in sources.items()}
    defined = {module: defined_private_names(tree) for module, tree in trees.items()}
    problems: list[str] = []
    for module, tree in trees.items():
        others = set().union(*(names for m, names in defined.items() if m != module))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "fastapi_tasks"
            ):
                problems.extend(
                    f"{module}:{node.lineno}: imports {node.module}.{alias.name}"
                    for alias in node.names
                    if _is_private(alias.name)
                )
            elif isinstance(node, ast.Import):
                problems.extend(
                    f"{module}:{node.lineno}: imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("fastapi_tasks")
                    and any(_is_private(part) for part in alias.name.split("."))
                )
        for line, name, receiver in _private_uses(tree):
            if name not in defined[module]:
                problems.append(f"{module}:{line}: uses {name}, defined elsewhere")
            elif receiver not in {"self", "cls"} and name in others:
                problems.append(
                    f"{module}:{line}: {receiver or '...'}.{name} is also a private "
                    "name of another module: rename one"
                )
    return problems


def test_no_module_reads_another_modules_private_names() -> None:
    sources = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.glob("*.py"))
    }
    assert len(sources) > 10
    assert cross_module_private_access(sources) == []


def test_the_check_catches_private_attributes_imports_and_shared_names() -> None:
    sources = {
        "registry": "class R:\n    __slots__ = ('_queue',)\n    def _finish(self): ...\n",
        "runner": (
            "from fastapi_tasks.registry import _helper\n"
            "def run(registry, task):\n"
            "    registry._finish(task)\n"
            "    getattr(registry, '_queue')\n"
        ),
        "task": "class T:\n    def f(self, other):\n        self._queue = other._queue\n",
    }
    problems = cross_module_private_access(sources)
    assert sorted(problems) == [
        "runner:1: imports fastapi_tasks.registry._helper",
        "runner:3: uses _finish, defined elsewhere",
        "runner:4: uses _queue, defined elsewhere",
        "task:3: other._queue is also a private name of another module: rename one",
    ]
