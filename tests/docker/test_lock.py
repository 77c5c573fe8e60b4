"""requirements.lock, what the image installs, covers pyproject.toml and pins by hash.

Adding a dependency to pyproject.toml without `make lock` would build an image without it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)", re.MULTILINE)


def locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def test_every_dependency_of_the_project_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    # The image runs on PostgreSQL too, so the postgres extra is locked with the rest.
    lines = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["postgres"],
    ]
    wanted = {
        canonicalize_name(Requirement(line).name): Requirement(line) for line in lines
    }
    pins = locked()
    missing = sorted(set(wanted) - set(pins))
    assert not missing, f"not in requirements.lock (run make lock): {missing}"
    outside = [
        f"{name}=={pins[name]}"
        for name, requirement in wanted.items()
        if not requirement.specifier.contains(pins[name], prereleases=True)
    ]
    assert not outside, f"locked outside pyproject.toml's range (make lock): {outside}"


def test_every_pin_carries_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        assert PIN.match(entry), entry
        assert "--hash=sha256:" in entry, entry
