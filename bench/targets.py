"""The library's performance bar (spec "Performance bar"): four ratios, judged side by side.

Each figure is the median over interleaved rounds of a per-round ratio between two variants
measured in the same round, so a noisy moment of the machine hits both sides.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """One required ratio: ``variant``'s metric ÷ ``baseline``'s, within ``limit``."""

    metric: str  # "cpu" (server CPU per request: lower is better) or "rps"
    variant: str
    baseline: str
    limit: float
    why: str

    @property
    def at_most(self) -> bool:
        """CPU ratios must stay at or under the limit; requests/s ratios at or over it."""
        return self.metric == "cpu"

    @property
    def label(self) -> str:
        what = "CPU per request" if self.metric == "cpu" else "requests/s"
        sign = "<=" if self.at_most else ">="
        return f"{what} {self.variant} ÷ {self.baseline} {sign} {self.limit:.2f}"

    def met(self, ratio: float) -> bool:
        if ratio != ratio:  # NaN: not measured
            return False
        return ratio <= self.limit if self.at_most else ratio >= self.limit


TARGETS = (
    Target("cpu", "ours", "floor", 1.15, "declare Tasks + 3 tasks vs create_task"),
    Target("rps", "ours", "floor", 0.90, "declare Tasks + 3 tasks vs create_task"),
    Target("cpu", "ours-declare", "depends", 1.08, "Tasks alone vs a trivial Depends"),
    Target("rps", "ours", "published", 2.0, "vs fastapi-tasks 0.1.0"),
)
"""The four figures ``make bench`` must show held (over uvicorn)."""

INFO_BASELINES = ("none", "background")
"""Ours is also compared with these, for information only (the old, withdrawn bar)."""


def required_variants() -> tuple[str, ...]:
    """Every variant a target reads, in first-use order."""
    seen: dict[str, None] = {}
    for target in TARGETS:
        seen.setdefault(target.variant)
        seen.setdefault(target.baseline)
    return tuple(seen)


def per_round_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """a[r] / b[r] for each round r: each round's variants ran side by side."""
    return [x / y for x, y in zip(a, b, strict=False) if y > 0]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
