"""Fallback HTTP load generator, used only when ``wrk`` is unavailable.

Standard library only (uvloop if present); runs in its own process. Keeps CONNECTIONS
keep-alive connections to 127.0.0.1:PORT busy with ``GET PATH`` for DURATION seconds,
then prints one JSON line: completed requests, elapsed seconds, non-2xx count, errors.
The count and duration are bounded by the arguments; only the loopback host is allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _Totals:
    __slots__ = ("errors", "non_2xx", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.non_2xx = 0
        self.errors = 0


async def _connection(
    host: str, port: int, path: str, end: float, totals: _Totals
) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        totals.errors += 1
        return
    try:
        while time.perf_counter() < end:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            totals.requests += 1
            if not 200 <= status < 300:
                totals.non_2xx += 1
    except (
        OSError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
    ):
        totals.errors += 1
    finally:
        writer.close()


async def run(
    host: str, port: int, path: str, connections: int, duration: float
) -> dict[str, Any]:
    totals = _Totals()
    start = time.perf_counter()
    end = start + duration
    await asyncio.gather(
        *(_connection(host, port, path, end, totals) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    return {
        "requests": totals.requests,
        "seconds": elapsed,
        "rps": totals.requests / elapsed if elapsed > 0 else 0.0,
        "non_2xx": totals.non_2xx,
        "errors": totals.errors,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/work")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.host not in _LOOPBACK:
        parser.error("load is only ever sent to the loopback interface")
    if not 0 < args.duration <= 60 or not 0 < args.connections <= 256:
        parser.error("duration must be in (0, 60] s and connections in (0, 256]")
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(
            run(args.host, args.port, args.path, args.connections, args.duration)
        )
    else:
        result = uvloop.run(
            run(args.host, args.port, args.path, args.connections, args.duration)
        )
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
