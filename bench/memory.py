"""``python -m bench.memory``: does the server's memory stay flat under a long mixed load?

Starts the real server (``python -m app.cli serve``, mock mode, a throwaway data dir,
``BCRYPT_ROUNDS=4``) on 127.0.0.1, then drives rounds of a mixed load: orders,
registrations, tracked events and ~1 MB photo uploads. After each round it waits until the
server is idle (no task pending or running, no image processing, analytics flushed) and
reads the server's resident memory (VmRSS from ``/proc/<pid>/status``).

It reports ``rss_10x / rss_1x``: memory after ten rounds over memory after the first
(warm-up) round. Anything kept per request (call history, unbounded caches) shows up as
growth; the goal is <= 1.10. The server runs as ``make demo`` and the Docker image run it
(``MALLOC_ARENA_MAX=2``); a second server with glibc's defaults runs the same load after
it, for comparison (``--shipped-only`` skips it). Counts, concurrency and time are bounded;
127.0.0.1 only.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.processes import _die_with_parent, free_port, stop_process, wait_healthy
from bench.upload_burst import photo

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
GOAL = 1.10
SETTLE_DEADLINE_S = 120.0
# Catalogue products with stock; orders beyond it take the refund path, which is fine here.
PRODUCTS = {1: "89.99", 2: "24.50", 3: "39.95", 4: "249.00"}


@dataclass(frozen=True)
class Load:
    """One round of load (the 1x); ``--rounds`` of them make the 10x."""

    orders: int = 150
    registrations: int = 30
    events: int = 500
    uploads: int = 10
    concurrency: int = 8


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str

    def rss_kib(self) -> int:
        """Resident memory of the server process, from /proc (kB as the kernel says)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/<pid>/status")


# What make demo and the Dockerfile set: glibc gives every thread that mallocs its own
# arena (up to 8 per core); Pillow, bcrypt and the fakes' store run in worker threads, and
# each arena holds on to freed memory of its own.
SHIPPED_MALLOC = {"MALLOC_ARENA_MAX": "2"}


@contextmanager
def running_server(data_dir: Path, *, malloc_env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")
    }
    env.update(malloc_env)
    env.update(
        {
            "MODE": "mock",
            "DATA_DIR": str(data_dir),
            "UPLOAD_DIR": str(data_dir / "uploads"),
            "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'app.db'}",
            "BCRYPT_ROUNDS": "4",
            "ANALYTICS_FLUSH_INTERVAL_S": "0.5",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--host", HOST]
    with (data_dir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    server = Server(process, f"http://{HOST}:{port}")
    try:
        wait_healthy(process, port, data_dir / "server.log")
        yield server
    finally:
        stop_process(process, timeout=15.0)


async def bounded(limit: int, jobs: list[Awaitable[httpx.Response]]) -> list[int]:
    """Run ``jobs`` with at most ``limit`` at once; their status codes."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[httpx.Response]) -> int:
        async with gate:
            return (await job).status_code

    return await asyncio.gather(*(one(job) for job in jobs))


def round_requests(
    http: httpx.AsyncClient, load: Load, n: int, photos: list[bytes]
) -> list[Awaitable[httpx.Response]]:
    """The requests of round ``n``, interleaved (unique e-mails and user ids per round)."""
    jobs: list[Awaitable[httpx.Response]] = []
    for i in range(load.orders):
        product = 1 + i % len(PRODUCTS)
        order = {
            "user_id": 1 + i,
            "email": f"buyer{n}-{i}@example.com",
            "items": [
                {"product_id": product, "quantity": 1, "price": PRODUCTS[product]}
            ],
            "payment_token": "tok_declined" if i % 6 == 5 else "tok_visa",
        }
        jobs.append(http.post("/orders", json=order))
    for i in range(load.registrations):
        user = {
            "email": f"member{n}-{i}@example.com",
            "password": "correct horse battery",
            "name": f"Member {n}-{i}",
        }
        jobs.append(http.post("/register", json=user))
    for i in range(load.events):
        event = {"event": "page_view", "user_id": 1000 + i % 10, "properties": {"i": i}}
        jobs.append(http.post("/track", json=event))
    for i, data in enumerate(photos[: load.uploads]):
        files = {"file": (f"photo{i}.jpg", data, "image/jpeg")}
        jobs.append(http.post("/upload-image", params={"user_id": 1 + i}, files=files))
    # Spread the slow uploads through the round rather than at its end.
    return jobs[::2] + jobs[1::2]


async def settled(http: httpx.AsyncClient) -> None:
    """Wait until no task is pending or running (image processing is a task too)."""
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    await http.post("/analytics/flush")
    while time.monotonic() < deadline:
        tasks = (await http.get("/demo/tasks", params={"limit": 1000})).json()
        if not any(task["state"] in ("pending", "running") for task in tasks):
            return
        await asyncio.sleep(0.1)  # polling interval while background work drains
    raise TimeoutError(f"server still busy after {SETTLE_DEADLINE_S:.0f} s")


async def drive(server: Server, load: Load, rounds: int, photos: list[bytes]) -> float:
    """Run the rounds, printing RSS after each; returns ``rss_10x / rss_1x``."""
    samples: list[int] = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as http:
        for n in range(1, rounds + 1):
            started = time.perf_counter()
            codes = await bounded(
                load.concurrency, round_requests(http, load, n, photos)
            )
            await settled(http)
            samples.append(server.rss_kib())
            refused = sum(code >= 400 for code in codes)
            print(
                f"round {n:2d}: {len(codes)} requests ({refused} refused) in "
                f"{time.perf_counter() - started:5.1f} s; server RSS "
                f"{samples[-1] / 1024:6.1f} MiB",
                flush=True,
            )
        calls = await http.get("/demo/calls", params={"limit": 1})
    ratio = samples[-1] / samples[0]
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(
        f"rss_1x = {samples[0] / 1024:.1f} MiB, rss_{rounds}x = {samples[-1] / 1024:.1f}"
        f" MiB, ratio {ratio:.3f} (goal <= {GOAL:.2f}: {verdict}); "
        f"fake calls kept: {calls.headers.get('x-total-count')}"
    )
    # A leak grows by about the same amount every round; caches that fill up do not.
    tail = samples[min(len(samples) // 2, len(samples) - 2) :]
    slope = statistics.linear_regression(range(len(tail)), tail).slope
    print(f"trend over the last {len(tail)} rounds: {slope / 1024:+.1f} MiB per round")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds in all (10x)")
    parser.add_argument("--orders", type=int, default=Load.orders)
    parser.add_argument("--registrations", type=int, default=Load.registrations)
    parser.add_argument("--events", type=int, default=Load.events)
    parser.add_argument("--uploads", type=int, default=Load.uploads)
    parser.add_argument("--concurrency", type=int, default=Load.concurrency)
    parser.add_argument(
        "--shipped-only",
        action="store_true",
        help="skip the comparison run with glibc's default malloc arenas",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the goal is not met"
    )
    args = parser.parse_args()
    if not 2 <= args.rounds <= 50 or not 1 <= args.concurrency <= 64:
        parser.error("--rounds must be 2..50 and --concurrency 1..64")
    counts = (args.orders, args.registrations, args.events, args.uploads)
    if not all(0 <= count <= 5_000 for count in counts) or args.uploads > 100:
        parser.error("per round: at most 5000 of each request kind, 100 uploads")
    load = Load(
        orders=args.orders,
        registrations=args.registrations,
        events=args.events,
        uploads=args.uploads,
        concurrency=args.concurrency,
    )
    # About 1 MB each: noise barely compresses.
    photos = [photo(seed, (1400, 1000)) for seed in range(load.uploads)]
    mb = sum(map(len, photos)) / max(len(photos), 1) / 1e6
    print(
        f"per round: {load.orders} orders, {load.registrations} registrations, "
        f"{load.events} events, {load.uploads} uploads of {mb:.2f} MB; "
        f"{load.concurrency} at once"
    )
    runs = [("as shipped, MALLOC_ARENA_MAX=2", SHIPPED_MALLOC)]
    if not args.shipped_only:
        runs.append(("glibc defaults (for comparison)", {}))
    ratios: list[float] = []
    for label, malloc_env in runs:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
        try:
            with running_server(data_dir, malloc_env=malloc_env) as server:
                print(
                    f"\n{label}: server at {server.base_url}, pid {server.process.pid}",
                    flush=True,
                )
                ratios.append(asyncio.run(drive(server, load, args.rounds, photos)))
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(
        "\nratio side by side: "
        + ", ".join(
            f"{label}: {r:.3f}" for (label, _), r in zip(runs, ratios, strict=True)
        )
    )
    return 1 if args.check and ratios[0] > GOAL else 0


if __name__ == "__main__":
    raise SystemExit(main())
