"""``python -m bench.upload_burst``: does image processing keep the server responsive?

Starts the real server (``python -m app.cli serve``, mock mode, a throwaway data dir),
measures ``GET /health`` latency while idle, then fires a burst of 20 photo uploads at once
and measures ``/health`` again until every image is ``ready``. Pillow runs in worker
threads and at most ``IMAGE_JOBS_LIMIT`` jobs run at once, so the event loop should keep
answering: the target is p99 < 100 ms during the burst. Prints figures, asserts nothing
(timings on a shared 2-core machine are not a test).

The health probe runs in its own thread with its own connection, so it is not queued
behind the uploads on the client side.
"""

import argparse
import asyncio
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from PIL import Image

from bench.processes import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 100.0


@contextmanager
def running_server(data_dir: Path, jobs_limit: int) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "MODE": "mock",
            "DATA_DIR": str(data_dir),
            "UPLOAD_DIR": str(data_dir / "uploads"),
            "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'app.db'}",
            "IMAGE_JOBS_LIMIT": str(jobs_limit),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    log = (data_dir / "server.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        cmd, cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, port, data_dir / "server.log")
        yield base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def photo(seed: int, size: tuple[int, int]) -> bytes:
    """A noisy RGB JPEG: costly to decode and encode, like a real photo."""
    bands = [Image.effect_noise(size, 40 + seed % 7 + band) for band in range(3)]
    image = Image.merge("RGB", bands)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class HealthProbe:
    """Polls ``/health`` from its own thread and connection, recording latencies."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._stop = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (perf_counter at start, ms)
        self.errors = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=10.0) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = http.get("/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                if ok:
                    self.samples.append((started, elapsed))
                else:
                    self.errors += 1
                self._stop.wait(0.01)  # ~100 probes/s, not a busy loop

    @property
    def latencies_ms(self) -> list[float]:
        return [ms for _, ms in self.samples]

    def between(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at < end]

    def __enter__(self) -> "HealthProbe":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(name: str, latencies: list[float]) -> str:
    if not latencies:
        return f"{name:>6}: no samples"
    return (
        f"{name:>6}: n={len(latencies):4d}  p50={percentile(latencies, 50):6.1f} ms  "
        f"p99={percentile(latencies, 99):6.1f} ms  max={max(latencies):6.1f} ms"
    )


class Burst:
    """Timestamps of one burst (``time.perf_counter``) and the final statuses."""

    started = 0.0
    accepted = 0.0  # every upload answered 202
    settled = 0.0  # no image left in "processing"
    statuses: list[str]


async def burst(base_url: str, photos: list[bytes]) -> Burst:
    """Upload every photo at once and wait until all settle."""
    result = Burst()
    result.started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/upload-image",
                    params={"user_id": 1 + i},
                    files={"file": (f"photo{i}.jpg", data, "image/jpeg")},
                )
                for i, data in enumerate(photos)
            )
        )
        for response in responses:
            if response.status_code != 202:
                raise RuntimeError(
                    f"upload refused: {response.status_code} {response.text}"
                )
        result.accepted = time.perf_counter()
        ids = [response.json()["image_id"] for response in responses]
        deadline = time.monotonic() + 120
        while True:
            images = [
                (await http.get(f"/images/{image_id}")).json() for image_id in ids
            ]
            statuses = [image["status"] for image in images]
            if "processing" not in statuses:
                result.settled = time.perf_counter()
                result.statuses = statuses
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"images still processing after 120 s: {statuses}")
            await asyncio.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--uploads", type=int, default=20, help="uploads in the burst")
    parser.add_argument("--width", type=int, default=2400, help="photo width in pixels")
    parser.add_argument(
        "--height", type=int, default=1600, help="photo height in pixels"
    )
    parser.add_argument("--jobs-limit", type=int, default=2, help="IMAGE_JOBS_LIMIT")
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="idle measurement"
    )
    args = parser.parse_args()

    print(
        f"making {args.uploads} noisy {args.width}x{args.height} JPEGs ...", flush=True
    )
    photos = [photo(i, (args.width, args.height)) for i in range(args.uploads)]
    mb = sum(map(len, photos)) / 1e6
    print(f"  {mb:.1f} MB in total, {mb / len(photos):.2f} MB each")

    data_dir = Path(tempfile.mkdtemp(prefix="upload-burst-"))
    try:
        with running_server(data_dir, args.jobs_limit) as base_url:
            print(f"server at {base_url} (IMAGE_JOBS_LIMIT={args.jobs_limit})")
            with HealthProbe(base_url) as idle:
                time.sleep(
                    args.idle_seconds
                )  # measuring idle latency for a fixed window
            with HealthProbe(base_url) as busy:
                outcome = asyncio.run(burst(base_url, photos))
            leftovers = list((data_dir / "uploads").iterdir())
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    ready = outcome.statuses.count("ready")
    upload_s = outcome.accepted - outcome.started
    total_s = outcome.settled - outcome.started
    print(
        f"burst: {len(photos)} uploads, {ready} ready; all accepted (202) after "
        f"{upload_s:.2f} s, all settled after {total_s:.2f} s"
    )
    print(f"temp files left in the upload dir: {len(leftovers)}")
    print("/health latency")
    print(summary("idle", idle.latencies_ms))
    print(summary("burst", busy.latencies_ms))
    print("  of which")
    print(summary("upload", busy.between(outcome.started, outcome.accepted)))
    print(summary("tasks", busy.between(outcome.accepted, outcome.settled)))
    if idle.errors or busy.errors:
        print(f"probe errors: idle {idle.errors}, burst {busy.errors}")
    if busy.latencies_ms:
        p99 = percentile(busy.latencies_ms, 99)
        verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
        print(
            f"target p99 < {TARGET_P99_MS:.0f} ms during the burst: {verdict} ({p99:.1f} ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
