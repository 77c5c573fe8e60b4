"""``python -m bench.profile``: where does a request to the "ours" variant spend its time?

Runs the same in-process loop as ``python -m bench`` (the benchmark app driven straight
through ASGI, one no-op task scheduled in each of the three modes) under pyinstrument,
sampling the whole thread (the tasks run in their own asyncio tasks, so
``async_mode="disabled"``), then prints the top of the call tree and flat lists of the
hot spots: by self time, and the ``fastapi_tasks`` functions by inclusive time.

pyinstrument is installed into the running venv on first use (it is a profiling aid,
not a project dependency).
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.processes import REPO_ROOT


def load_pyinstrument(install: bool) -> ModuleType | None:
    try:
        return importlib.import_module("pyinstrument")
    except ImportError:
        if not install:
            print("[bench] pyinstrument is not installed (and --no-install was given)")
            return None
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "pyinstrument",
    ]
    print(f"[bench] pyinstrument missing; running: {' '.join(command)}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"[bench] could not install pyinstrument: {done.stderr.strip()[-400:]}")
        return None
    importlib.invalidate_caches()
    return importlib.import_module("pyinstrument")


def _walk(frame: Any, depth: int = 0) -> Iterator[tuple[Any, int]]:
    yield frame, depth
    for child in frame.children:
        yield from _walk(child, depth + 1)


def _where(frame: Any) -> str:
    path = str(frame.file_path or "")
    parts = Path(path).parts
    if "site-packages" in parts:
        shown = "/".join(parts[len(parts) - parts[::-1].index("site-packages") :])
    elif path.startswith(sys.base_prefix):
        shown = "stdlib:" + Path(path).name
    else:
        try:
            shown = str(Path(path).resolve().relative_to(REPO_ROOT))
        except ValueError:
            shown = path
    owner = getattr(frame, "class_name", None)
    return f"{shown}:{owner}.{frame.function}" if owner else f"{shown}:{frame.function}"


def library_share(root: Any) -> float:
    """Seconds inside fastapi_tasks: outermost fastapi_tasks frames only, so nothing twice."""

    def walk(frame: Any, inside: bool) -> float:
        if (
            not frame.is_synthetic
            and _where(frame).startswith("fastapi_tasks/")
            and not inside
        ):
            return float(frame.time)
        return sum(walk(child, inside) for child in frame.children)

    return walk(root, False)


def hot_spots(root: Any) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(self time by file:function, inclusive time of fastapi_tasks functions), in seconds."""
    self_time: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    for frame, _ in _walk(root):
        if (
            frame.is_synthetic
        ):  # "[self]", "[await]": their time is their parent's own time
            continue
        key = _where(frame)
        real_children = (c for c in frame.children if not c.is_synthetic)
        own = float(frame.time) - sum(float(c.time) for c in real_children)
        self_time[key] = self_time.get(key, 0.0) + max(own, 0.0)
        if key.startswith("fastapi_tasks/"):
            # Count a function once per call path: skip frames with the same key above them.
            parent = frame.parent
            nested = False
            while parent is not None:
                if _where(parent) == key:
                    nested = True
                    break
                parent = parent.parent
            if not nested:
                inclusive[key] = inclusive.get(key, 0.0) + float(frame.time)
    by_self = sorted(self_time.items(), key=lambda kv: kv[1], reverse=True)
    by_inclusive = sorted(inclusive.items(), key=lambda kv: kv[1], reverse=True)
    return by_self, by_inclusive


async def _profile(
    pyinstrument: ModuleType, variant: str, requests: int, interval: float
) -> Any:
    from bench.standalone import bench_worker

    runner = bench_worker.InProcess(
        bench_worker.build_app(variant), bench_worker.tasks_per_request(variant)
    )
    await runner.start()
    try:
        await runner.run(max(500, requests // 5))  # warm-up, not profiled
        profiler = pyinstrument.Profiler(interval=interval, async_mode="disabled")
        profiler.start()
        try:
            result = await runner.run(requests)
        finally:
            profiler.stop()
    finally:
        await runner.stop()
    origin = bench_worker.library_origin(variant)
    print(
        f"[bench] profiled {requests} in-process requests of '{variant}'"
        + (f" (fastapi_tasks from {origin})" if origin else "")
        + f": {result['cpu_us_per_request']:.1f} CPU us/request while profiled, "
        f"{result['tasks_per_request']:.2f} tasks/request"
    )
    return profiler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__
    )
    parser.add_argument(
        "--variant",
        default="ours",
        choices=("ours", "ours-declare", "none", "background", "depends", "floor"),
    )
    parser.add_argument(
        "--requests", type=int, default=8000, help="profiled requests (default 8000)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0002,
        help="sampling interval in s (default 0.0002)",
    )
    parser.add_argument(
        "--lines", type=int, default=70, help="lines of the call tree to print"
    )
    parser.add_argument(
        "--top", type=int, default=25, help="entries in the flat hot-spot lists"
    )
    parser.add_argument(
        "--html", type=Path, help="also write pyinstrument's HTML report here"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="do not pip-install pyinstrument"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 100 <= args.requests <= 200_000:
        parser.error("--requests must be 100..200000")

    if (
        args.variant.startswith("ours")
        and not (REPO_ROOT / "fastapi_tasks" / "__init__.py").exists()
    ):
        print("[bench] fastapi_tasks/ is not in the repository yet: nothing to profile")
        return 0
    pyinstrument = load_pyinstrument(install=not args.no_install)
    if pyinstrument is None:
        return 0
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))

    from bench.standalone import bench_worker

    loop = bench_worker.new_loop()
    try:
        profiler = loop.run_until_complete(
            _profile(pyinstrument, args.variant, args.requests, args.interval)
        )
    finally:
        loop.close()

    session = profiler.last_session
    root = session.root_frame()
    total = float(root.time) if root is not None else 0.0
    print()
    print(
        f"Call tree (top {args.lines} lines; pyinstrument hides library internals unless --show-all):"
    )
    tree = profiler.output_text(
        unicode=True, color=False, show_all=False, short_mode=False
    )
    for line in str(tree).splitlines()[: args.lines]:
        print(line)
    if root is None or total <= 0:
        return 0
    by_self, by_inclusive = hot_spots(root)
    print()
    print(f"Hot spots by self time (file:function, % of {total:.3f} s sampled;")
    print("the event loop's own C code shows up as bench/profile.py:main):")
    for key, seconds in by_self[: args.top]:
        print(f"  {100 * seconds / total:5.1f}%  {key}")
    print()
    share = library_share(root)
    print(
        f"fastapi_tasks functions by inclusive time (% of all sampled time; "
        f"all of fastapi_tasks together: {100 * share / total:.1f}%):"
    )
    if not by_inclusive:
        print("  (none sampled)")
    for key, seconds in by_inclusive[: args.top]:
        print(f"  {100 * seconds / total:5.1f}%  {key}")
    if args.html is not None:
        args.html.write_text(str(profiler.output_html()))
        print(f"\n[bench] HTML report: {args.html}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
