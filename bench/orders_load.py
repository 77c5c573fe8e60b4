"""``python -m bench.orders_load``: orders end to end under load, against a reference.

Starts the real server (``python -m app.cli serve``, mock mode, SQLite, a throwaway data
directory, default settings as ``make demo`` uses them) and drives it with wrk from one
other process, on 127.0.0.1 only, for a bounded time per scenario:

- ``products@16``: ``GET /products`` with 16 clients, the reference (one read, no tasks)
- ``orders@16`` / ``orders@64``: ``POST /orders`` for a product with ample stock, so every
  order takes the confirmed path (charge, reservation, settlement, e-mail, warehouse)
- ``sold_out@16``: ``POST /orders`` for the sold-out product (reservation fails, refund)

For each: requests/s, p50/p99 latency (wrk), server CPU per order from /proc until every
order of the scenario has settled (the background work counts), how the orders ended, and
how many "database is locked" lines the server logged. With ``--baseline REF`` the same
scenarios run against the tree at git REF, interleaved round by round on the same
machine, and the targets are judged side by side. Timings on a shared 2-core machine
are not a test: this prints figures and verdicts, it asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.processes import ensure_wrk, export_tree, process_cpu_seconds
from bench.service import ROOT, Service, running_service

AMPLE_STOCK = 100_000_000
SETTLE_DEADLINE_S = 60.0
TARGET_SPEEDUP = 2.0  # orders/s at 16 clients, against the baseline
TARGET_P99_MS = 300.0  # at 16 clients
# What the targets are judged against: main as it was before the work on throughput
# (issue 13), exported from git and run side by side.
BASELINE_REF = "cff70d4"

# Catalogue rows by name (ids come from the database).
PRODUCT = "Mechanical keyboard"
SOLD_OUT = "Vintage headphones (sold out)"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    clients: int
    product: str | None = None  # orders for this product; None: a GET


SCENARIOS = (
    Scenario("products@16", "GET", "/products", 16),
    Scenario("orders@16", "POST", "/orders", 16, PRODUCT),
    Scenario("orders@64", "POST", "/orders", 64, PRODUCT),
    Scenario("sold_out@16", "POST", "/orders", 16, SOLD_OUT),
)


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # server CPU per request, background work included
    errors: int  # socket errors and timeouts seen by wrk
    non_2xx: int
    outcomes: str  # e.g. "confirmed 812"
    locked: int  # "database is locked" lines in the server log


@dataclass
class Variant:
    name: str
    source: Path
    results: dict[str, list[Figures]]


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    if found is None:
        raise RuntimeError(f"no {percentile}% latency in wrk output:\n{output[-400:]}")
    return float(found.group(1)) * _UNITS_MS[found.group(2)]


def _rate(output: str) -> float:
    found = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{output[-400:]}")
    return float(found.group(1))


def _count(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    return sum(int(g) for g in found.groups()) if found else 0


@contextmanager
def running(source: Path) -> Iterator[Service]:
    with running_service(source=source) as service:
        service.sql("UPDATE product SET stock = ? WHERE name = ?", AMPLE_STOCK, PRODUCT)
        yield service


def _wrk_script(directory: Path, scenario: Scenario, server: Service) -> Path | None:
    if scenario.product is None:
        return None
    catalogue = httpx.get(f"{server.base_url}/products").json()
    [(product_id, price)] = [
        (p["product_id"], p["price"])
        for p in catalogue
        if p["name"] == scenario.product
    ]
    body = (
        f'{{"user_id": 7, "email": "bench@example.com", "items": [{{"product_id": '
        f'{product_id}, "quantity": 1, "price": {price}}}], "payment_token": "tok_visa"}}'
    )
    script = directory / f"{scenario.name}.lua"
    script.write_text(
        f'wrk.method = "{scenario.method}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body}]]\n"
    )
    return script


def _wait_settled(server: Service) -> None:
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    while server.sql("SELECT count(*) FROM \"order\" WHERE status = 'processing'")[0][
        0
    ]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"orders still processing after {SETTLE_DEADLINE_S:g} s")
        time.sleep(0.1)  # polling the database while the tasks finish


def measure(wrk: str, server: Service, scenario: Scenario, duration_s: int) -> Figures:
    before_orders = server.sql('SELECT count(*) FROM "order"')[0][0]
    assert isinstance(before_orders, int)
    locked_before = server.log.read_text(errors="replace").count("database is locked")
    script = _wrk_script(server.data_dir, scenario, server)
    command = [wrk, "-t1", f"-c{scenario.clients}", f"-d{duration_s}s", "--latency"]
    command += ["--timeout", "5s"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(f"http://127.0.0.1:{server.port}{scenario.path}")
    cpu_before = process_cpu_seconds(server.process.pid)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=True
    )
    if scenario.product is not None:
        _wait_settled(server)
    cpu = process_cpu_seconds(server.process.pid) - cpu_before
    output = done.stdout
    requests = _count(r"(\d+) requests in", output)
    outcomes = ""
    if scenario.product is not None:
        rows = server.sql(
            'SELECT status, count(*) FROM "order" WHERE id > ? GROUP BY status',
            before_orders,
        )
        outcomes = ", ".join(f"{status} {n}" for status, n in sorted(rows, key=str))
    return Figures(
        rps=_rate(output),
        p50_ms=_latency_ms(output, "50"),
        p99_ms=_latency_ms(output, "99"),
        cpu_ms=1000 * cpu / max(requests, 1),
        errors=_count(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
            output,
        ),
        non_2xx=_count(r"Non-2xx or 3xx responses:\s*(\d+)", output),
        outcomes=outcomes,
        locked=server.log.read_text(errors="replace").count("database is locked")
        - locked_before,
    )


def run_round(
    wrk: str, variant: Variant, duration_s: int, scenarios: tuple[Scenario, ...]
) -> None:
    with running(variant.source) as server:
        # Warm up: imports, the first connections, SQLite's caches.
        measure(wrk, server, Scenario("warm-up", "POST", "/orders", 4, PRODUCT), 2)
        for scenario in scenarios:
            figures = measure(wrk, server, scenario, duration_s)
            variant.results.setdefault(scenario.name, []).append(figures)
            print(
                f"  {variant.name:<9} {scenario.name:<12} {figures.rps:7.1f}/s  "
                f"p50 {figures.p50_ms:6.0f} ms  p99 {figures.p99_ms:6.0f} ms  "
                f"cpu {figures.cpu_ms:5.1f} ms/req  {figures.outcomes}",
                flush=True,
            )


def median(figures: list[Figures], field: str) -> float:
    return float(statistics.median(getattr(f, field) for f in figures))


def report(variants: list[Variant]) -> None:
    print(
        "\nmedians over rounds (rps, p50/p99 ms, server CPU ms per request, "
        "wrk errors, non-2xx, 'database is locked')"
    )
    for variant in variants:
        print(f"{variant.name} ({variant.source}):")
        for name, runs in variant.results.items():
            print(
                f"  {name:<12} {median(runs, 'rps'):7.1f}/s  "
                f"p50 {median(runs, 'p50_ms'):6.0f}  p99 {median(runs, 'p99_ms'):6.0f}  "
                f"cpu {median(runs, 'cpu_ms'):5.1f}  errors {sum(f.errors for f in runs)}  "
                f"non-2xx {sum(f.non_2xx for f in runs)}  "
                f"locked {sum(f.locked for f in runs)}"
            )
        rps = {name: median(runs, "rps") for name, runs in variant.results.items()}
        if {"orders@16", "orders@64", "products@16"} <= rps.keys():
            print(
                f"  orders/s 16 -> 64 clients: x{rps['orders@64'] / rps['orders@16']:.2f}; "
                f"orders/s ÷ GET /products/s at 16: "
                f"{rps['orders@16'] / rps['products@16']:.2f}"
            )
    current = variants[-1]
    if "orders@16" not in current.results:
        return
    verdicts = [
        (
            f"p99 of POST /orders at 16 clients ≤ {TARGET_P99_MS:g} ms",
            median(current.results["orders@16"], "p99_ms"),
            median(current.results["orders@16"], "p99_ms") <= TARGET_P99_MS,
        ),
        (
            "'database is locked' lines",
            sum(f.locked for runs in current.results.values() for f in runs),
            all(f.locked == 0 for runs in current.results.values() for f in runs),
        ),
    ]
    if len(variants) == 2:
        # Each round ran both variants one after the other: a noisy moment hits the
        # pair, so the verdict is the median of the per-round ratios.
        ratios = [
            now.rps / before.rps
            for now, before in zip(
                current.results["orders@16"],
                variants[0].results["orders@16"],
                strict=True,
            )
        ]
        ratio = statistics.median(ratios)
        print(
            "\norders/s at 16 clients ÷ baseline, per round: "
            + ", ".join(f"{r:.2f}" for r in ratios)
        )
        verdicts.insert(
            0,
            (
                f"orders/s at 16 clients ÷ baseline ≥ {TARGET_SPEEDUP:g} "
                "(median of the per-round ratios)",
                ratio,
                ratio >= TARGET_SPEEDUP,
            ),
        )
    print("\ntargets:")
    for label, value, held in verdicts:
        print(f"  {'HELD' if held else 'MISSED':<6} {label}: {value:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.orders_load")
    parser.add_argument(
        "--baseline",
        default=BASELINE_REF,
        help=f"git ref measured side by side (default {BASELINE_REF}, the tree before "
        "the throughput work; 'none' to skip)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(scenario.name for scenario in SCENARIOS),
        help="comma-separated subset, e.g. orders@16",
    )
    parser.add_argument(
        "--current", help="git ref to measure instead of the working tree"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=8, help="seconds per scenario")
    args = parser.parse_args(argv)
    chosen = set(args.scenarios.split(","))
    scenarios = tuple(scenario for scenario in SCENARIOS if scenario.name in chosen)
    if args.baseline == "none":
        args.baseline = None
    wrk = ensure_wrk(install=True)
    if wrk is None:
        print(
            "wrk is needed for this benchmark (Debian package 'wrk')", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-trees-") as tmp:
        variants: list[Variant] = []
        for role, ref in (("baseline", args.baseline), ("current", args.current)):
            if ref is None:
                continue
            tree = Path(tmp) / role
            tree.mkdir()
            print(f"{role}: {ref} = {export_tree(ref, tree)[:12]}")
            variants.append(Variant(role, tree, {}))
        if args.current is None:
            variants.append(Variant("current", ROOT, {}))
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}/{args.rounds}", flush=True)
            order = variants if round_no % 2 else list(reversed(variants))
            for variant in order:
                run_round(wrk, variant, args.duration, scenarios)
        report(variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
