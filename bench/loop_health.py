"""``python -m bench.loop_health``: does the event loop keep answering during heavy work?

The same burst is sent to two variants of the real server (mock mode, default settings,
``BCRYPT_ROUNDS`` 12 as in production), interleaved round by round:

- ``threads``: the service as it is (bcrypt and Pillow in worker threads)
- ``on the loop``: the same service with that work called on the event loop, as the
  original examples do (``bench/standalone/on_loop.py``)

A burst is registrations (bcrypt) and ~2.7 MB photo uploads (decode, resize, encode), all
at once. A probe thread polls ``GET /health`` on its own connection the whole time; the
figure is its p99 from the start of the burst until every image settled. Target for
``threads``: p99 ≤ 50 ms. Only 127.0.0.1; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import httpx

from bench.service import ROOT, SERVE, running_service
from bench.upload_burst import HealthProbe, percentile, photo

ON_LOOP = ROOT / "bench" / "standalone" / "on_loop.py"
TARGET_P99_MS = 50.0
PHOTO_SIZE = (2400, 1600)  # ~2.7 MB as a noisy JPEG
SETTLE_DEADLINE_S = 180.0

VARIANTS: dict[str, tuple[str, ...]] = {
    "threads": SERVE,
    "on the loop": (str(ON_LOOP), "serve"),
}
# Production's cost, not the tests' 4 rounds; quiet logs so the probe measures the work.
SERVER_ENV = {"BCRYPT_ROUNDS": "12", "LOG_LEVEL": "WARNING"}


async def burst(
    base_url: str, registrations: int, photos: list[bytes], round_no: int
) -> None:
    """Everything at once; returns when every image left ``processing``."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0) as http:
        calls = [
            http.post(
                "/register",
                json={
                    "email": f"user{round_no}-{i}@example.com",
                    "password": "correct horse battery staple",
                    "name": f"User {i}",
                },
            )
            for i in range(registrations)
        ]
        calls += [
            http.post(
                "/upload-image",
                params={"user_id": 1 + i},
                files={"file": (f"photo{i}.jpg", data, "image/jpeg")},
            )
            for i, data in enumerate(photos)
        ]
        responses = await asyncio.gather(*calls)
        refused = [r.status_code for r in responses if r.status_code >= 300]
        if refused:
            raise RuntimeError(f"burst refused: {refused}")
        ids = [r.json()["image_id"] for r in responses[registrations:]]
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        while True:
            statuses = [(await http.get(f"/images/{i}")).json()["status"] for i in ids]
            if "processing" not in statuses:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"images still processing: {statuses}")
            await asyncio.sleep(0.1)  # polling the service, as a client would


def one_round(
    variant: str, registrations: int, photos: list[bytes], round_no: int
) -> list[float]:
    with (
        running_service(command=VARIANTS[variant], env=SERVER_ENV) as service,
        HealthProbe(service.base_url) as probe,
    ):
        started = time.perf_counter()
        asyncio.run(burst(service.base_url, registrations, photos, round_no))
        return probe.between(started, time.perf_counter())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_health")
    parser.add_argument("--registrations", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    photos = [photo(i, PHOTO_SIZE) for i in range(args.uploads)]
    mb = statistics.mean(len(p) for p in photos) / 1e6
    print(
        f"burst: {args.registrations} registrations (bcrypt, 12 rounds) + "
        f"{args.uploads} uploads of ~{mb:.1f} MB; GET /health polled meanwhile"
    )
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_no in range(1, args.rounds + 1):
        order = list(VARIANTS) if round_no % 2 else list(reversed(VARIANTS))
        for variant in order:
            latencies = one_round(variant, args.registrations, photos, round_no)
            samples[variant] += latencies
            print(
                f"  round {round_no} {variant:<12} n={len(latencies):4d}  "
                f"p50 {percentile(latencies, 50):7.1f} ms  "
                f"p99 {percentile(latencies, 99):7.1f} ms  max {max(latencies):7.1f} ms",
                flush=True,
            )
    print("\nGET /health during the burst, all rounds:")
    for variant, latencies in samples.items():
        print(
            f"  {variant:<12} p50 {percentile(latencies, 50):7.1f} ms  "
            f"p99 {percentile(latencies, 99):7.1f} ms  max {max(latencies):7.1f} ms"
        )
    p99 = percentile(samples["threads"], 99)
    verdict = "HELD" if p99 <= TARGET_P99_MS else "MISSED"
    print(
        f"\ntarget: {verdict} p99 of GET /health during the burst ≤ "
        f"{TARGET_P99_MS:g} ms: {p99:.1f} ms (on the loop: "
        f"{percentile(samples['on the loop'], 99):.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
