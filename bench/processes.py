"""Child processes of the benchmark: in-process workers, uvicorn servers, load generators.

Every child is started here and stopped in a ``finally`` by whoever started it; each
also gets SIGTERM from the kernel if the benchmark itself dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
STANDALONE_DIR = BENCH_DIR / "standalone"
WORKER_SCRIPT = STANDALONE_DIR / "bench_worker.py"
LOAD_SCRIPT = STANDALONE_DIR / "bench_load.py"
HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1


def export_ours(ref: str, into: Path) -> str:
    """Write ``fastapi_tasks/`` as of git REF under INTO; return the full commit id."""
    return export_tree(ref, into, "fastapi_tasks")


def export_tree(ref: str, into: Path, *paths: str) -> str:
    """Write the repository (or only PATHS) as of git REF under INTO; return the commit id."""
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit, *paths],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return commit


def ours_state() -> str:
    """How the working tree's fastapi_tasks/ relates to HEAD (for the report header)."""
    done = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "fastapi_tasks"],
        capture_output=True,
        text=True,
        check=False,
    )
    head = subprocess.run(
        [
            "git",
            "-C",
            str(REPO_ROOT),
            "log",
            "-1",
            "--format=%h %s",
            "--",
            "fastapi_tasks",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = bool(done.stdout.strip()) if done.returncode == 0 else False
    return f"working tree (last commit: {head[:90] or '-'}" + (
        "; WITH uncommitted changes)" if dirty else "; clean)"
    )


class BenchError(RuntimeError):
    """A variant could not be started or measured."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# Read by bench_worker.py: the history size of "ours" for a ``--ours-history`` what-if.
OURS_HISTORY_ENV = "BENCH_OURS_HISTORY"


def child_env(
    variant: str, ours_root: Path = REPO_ROOT, ours_history: int | None = None
) -> dict[str, str]:
    """Environment for a variant's process: ``BENCH_VARIANT`` (+ the repo path for ours,
    and the history size ``--ours-history`` asked for, if any)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k != OURS_HISTORY_ENV
    }
    env["BENCH_VARIANT"] = variant
    if variant.startswith("ours"):
        env["BENCH_OURS_PATH"] = str(ours_root)
        if ours_history is not None:
            env[OURS_HISTORY_ENV] = str(ours_history)
    return env


def check_origin(
    variant: str, origin: str | None, published_venv: Path, ours_root: Path = REPO_ROOT
) -> None:
    """Fail loudly if a variant imported the wrong ``fastapi_tasks``."""
    if variant.startswith("published"):
        if origin is None or not Path(origin).resolve().is_relative_to(
            published_venv.resolve()
        ):
            raise BenchError(
                f"'published' imported fastapi_tasks from {origin}, not {published_venv}"
            )
    elif variant.startswith("ours"):
        ours = (ours_root / "fastapi_tasks").resolve()
        if origin is None or not Path(origin).resolve().is_relative_to(ours):
            raise BenchError(f"'ours' imported fastapi_tasks from {origin}, not {ours}")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM, wait, then SIGKILL: only this one process, by its handle."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _readline(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise BenchError(f"no answer within {timeout:.0f} s")
    return stream.readline()


class InprocWorker:
    """A persistent ``bench_worker.py inproc`` process answering ``run N`` commands."""

    def __init__(
        self,
        variant: str,
        python: Path,
        warmup: int,
        log_dir: Path,
        ours_root: Path = REPO_ROOT,
        ours_history: int | None = None,
    ) -> None:
        self.variant = variant
        self.log_path = log_dir / f"inproc-{variant}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(python), "-I", str(WORKER_SCRIPT), "inproc", variant, str(warmup)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=child_env(variant, ours_root, ours_history),
            cwd=STANDALONE_DIR,
            preexec_fn=_die_with_parent,
        )
        self.library: str | None = None

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = _readline(self.proc.stdout, timeout)
        if not line:
            raise BenchError(f"{self.variant} worker exited: {self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise BenchError(
                f"{self.variant} worker: {answer['error']}; {self.log_tail()}"
            )
        return answer

    def wait_ready(self, timeout: float = 60.0) -> None:
        answer = self._answer(timeout)
        self.library = answer.get("library")

    def run(self, n: int, timeout: float = 120.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {n}\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def log_tail(self, lines: int = 8) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.write("quit\n")
                    self.proc.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(5)
        finally:
            stop_process(self.proc)
            self._log.close()


def wait_healthy(
    process: subprocess.Popen[Any], port: int, log: Path, deadline_s: float = 30.0
) -> None:
    """Poll ``/health`` on 127.0.0.1 until it answers 200; fail if the server exits first."""
    deadline = time.monotonic() + deadline_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: see {log}")
        with contextlib.suppress(
            OSError, ValueError, http.client.HTTPException, BenchError
        ):
            if http_get_json(port, "/health", timeout=1.0).get("status") == "ok":
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"server did not become healthy in {deadline_s:g} s")
        time.sleep(0.05)  # polling while it boots


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_get_json(port: int, path: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET on 127.0.0.1 without any proxy settings getting in the way."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise BenchError(f"GET {path} -> {response.status}")
        data: dict[str, Any] = json.loads(body)
        return data
    finally:
        conn.close()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads) from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # After "pid (comm) ", field 3 (state) is index 0: utime (14) is 11, stime (15) is 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class Server:
    """One variant under uvicorn (uvloop, httptools, 1 worker, no access log) on 127.0.0.1."""

    def __init__(
        self,
        variant: str,
        python: Path,
        log_dir: Path,
        ours_root: Path = REPO_ROOT,
        ours_history: int | None = None,
    ) -> None:
        self.variant = variant
        self.port = free_port()
        self.log_path = log_dir / f"server-{variant}.log"
        self._log = self.log_path.open("w")
        self.command = [
            str(python),
            "-I",
            "-m",
            "uvicorn",
            "--factory",
            "bench_worker:create_app_from_env",
            "--app-dir",
            str(STANDALONE_DIR),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env(variant, ours_root, ours_history),
            cwd=STANDALONE_DIR,
            preexec_fn=_die_with_parent,
        )
        self.library: str | None = None

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.variant} server exited: {self.log_tail()}")
            try:
                stats = http_get_json(self.port, "/stats", timeout=1.0)
            except (OSError, BenchError, http.client.HTTPException):
                time.sleep(0.05)
                continue
            if stats.get("pid") != self.proc.pid:
                raise BenchError(
                    f"port {self.port} answered from pid {stats.get('pid')}, not our server"
                )
            self.library = stats.get("library")
            return
        raise BenchError(
            f"{self.variant} server not ready in {timeout:.0f} s: {self.log_tail()}"
        )

    def counts(self) -> tuple[int, float]:
        """No-op tasks run so far, and CPU seconds spent in the garbage collector."""
        stats = http_get_json(self.port, "/stats")
        return int(stats["tasks_ran"]), float(stats["gc_seconds"])

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def settled_cpu_seconds(self, limit_s: float = 1.0) -> float:
        """CPU time once the server went idle (queued after-response tasks finished)."""
        deadline = time.monotonic() + limit_s
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.03)
            now = self.cpu_seconds()
            if now == last:
                return now
            last = now
        return last

    def log_tail(self, lines: int = 8) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def close(self) -> None:
        try:
            stop_process(self.proc)
        finally:
            self._log.close()


# --------------------------------------------------------------------------- load


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    errors: int


def ensure_wrk(install: bool) -> str | None:
    """Path of wrk, installing it with apt-get (and saying so) when allowed and possible."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(
            "[bench] wrk not found and apt-get is unavailable (or not root): Python load generator"
        )
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (
        [apt, "install", "-y", "-qq", "wrk"],
        [apt, "update", "-qq"],
        [apt, "install", "-y", "-qq", "wrk"],
    ):
        print(f"[bench] wrk not found; running: {' '.join(attempt)}", flush=True)
        done = subprocess.run(
            attempt, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            print(
                f"[bench]   exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
            )
        found = shutil.which("wrk")
        if found:
            return found
    print("[bench] could not install wrk: Python load generator")
    return None


_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_WRK_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(output: str) -> LoadResult:
    total = _WRK_TOTAL.search(output)
    rps = _WRK_RPS.search(output)
    if total is None or rps is None:
        raise BenchError(f"cannot read wrk output: {output.strip()[-300:]}")
    non_2xx = _WRK_NON2XX.search(output)
    sock = _WRK_SOCKET.search(output)
    return LoadResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNIT_S[total.group(3)],
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


class LoadGenerator:
    """wrk when available, else ``bench_load.py`` (both bounded, both only to 127.0.0.1)."""

    def __init__(self, wrk: str | None, connections: int) -> None:
        self.wrk = wrk
        self.connections = connections

    @property
    def name(self) -> str:
        if self.wrk:
            return f"wrk -t1 -c{self.connections}"
        return f"python bench_load.py ({self.connections} connections)"

    def run(self, port: int, duration: float) -> LoadResult:
        limit = duration + 30
        if self.wrk:
            command = [
                self.wrk,
                "-t1",
                f"-c{self.connections}",
                f"-d{max(1, round(duration))}s",  # wrk takes whole seconds only
                "--timeout",
                "5s",
                f"http://{HOST}:{port}/work",
            ]
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=limit, check=False
            )
            if done.returncode != 0:
                raise BenchError(
                    f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}"
                )
            return parse_wrk(done.stdout)
        command = [
            sys.executable,
            "-I",
            str(LOAD_SCRIPT),
            "--port",
            str(port),
            "--connections",
            str(self.connections),
            "--duration",
            str(duration),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=limit, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"load generator failed: {done.stderr.strip()[-300:]}")
        data = json.loads(done.stdout)
        return LoadResult(
            requests=int(data["requests"]),
            seconds=float(data["seconds"]),
            rps=float(data["rps"]),
            non_2xx=int(data["non_2xx"]),
            errors=int(data["errors"]),
        )


def other_benchmarks() -> list[int]:
    """Pids of benchmark servers/workers that this process did not start (they skew results)."""
    mine = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"bench_worker" not in cmdline:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid != mine:
            found.append(int(entry.name))
    return sorted(found)
