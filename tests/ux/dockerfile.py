"""A small Dockerfile reader: instructions of the final stage, with continuations joined."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


def instructions(path: Path) -> list[Instruction]:
    """Every instruction of the file in order (comments and blank lines dropped)."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(
        path.read_text(encoding="utf-8").splitlines(), start=1
    ):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(part for part in pending if part)
        pending = []
        keyword, _, value = text.partition(" ")
        out.append(Instruction(keyword.upper(), value.strip(), start))
    return out


def final_stage(path: Path) -> list[Instruction]:
    """The instructions from the last ``FROM`` on (what the shipped image is made of)."""
    all_instructions = instructions(path)
    last_from = max(
        i for i, ins in enumerate(all_instructions) if ins.keyword == "FROM"
    )
    return all_instructions[last_from:]


def exec_form(value: str) -> list[str]:
    """The argv of an exec-form (JSON array) CMD/ENTRYPOINT/HEALTHCHECK CMD."""
    parsed = json.loads(value)
    assert isinstance(parsed, list), value
    assert all(isinstance(arg, str) for arg in parsed), value
    return [str(arg) for arg in parsed]


def healthcheck_command(value: str) -> list[str]:
    """The argv of ``HEALTHCHECK [--opts] CMD [...]``."""
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", value)
    assert match, f"HEALTHCHECK is not in exec form: {value}"
    return exec_form(match.group(1))


def build_args(path: Path) -> dict[str, str]:
    """The defaults of the ``ARG NAME=default`` lines before the first ``FROM``."""
    defaults: dict[str, str] = {}
    for ins in instructions(path):
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            name, _, default = ins.value.partition("=")
            defaults[name.strip()] = default.strip()
    return defaults


def base_image(path: Path, stage: list[Instruction]) -> str:
    """The image a stage starts ``FROM``, with ``${ARG}`` replaced by the argument's default."""
    image = stage[0].value.split()[0]
    args = build_args(path)
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image
    )


def environment(stage: list[Instruction]) -> dict[str, str]:
    """What the stage's ``ENV KEY=value ...`` lines set (the form this Dockerfile uses)."""
    env: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for pair in ins.value.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env
