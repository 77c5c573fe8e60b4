"""What ``serve`` says on its first run: where to go, and one line when it cannot start."""

import subprocess
import sys
from pathlib import Path

from tests.e2e.server import (
    ROOT,
    ServerProcess,
    free_port,
    running_server,
    server_env,
)

REFUSAL_DEADLINE_S = 20.0


def serve(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` expecting it to refuse at once (it exits instead of serving)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", *args],
        cwd=ROOT,
        env=server_env(data_dir, env),
        capture_output=True,
        text=True,
        timeout=REFUSAL_DEADLINE_S,
        check=False,
    )


def test_startup_banner_says_where_to_go(tmp_path: Path) -> None:
    with running_server(tmp_path / "a") as server:
        output = server.output()
    assert f"Dashboard: {server.base_url}/" in output
    assert f"API docs: {server.base_url}/docs" in output
    assert "tutorial: docs/tutorial.md" in output


def test_port_in_use_is_one_line_and_nonzero(tmp_path: Path) -> None:
    with running_server(tmp_path / "a") as server:
        port = server.base_url.rsplit(":", 1)[1]
        done = serve(tmp_path / "b", "--host", "127.0.0.1", "--port", port)
    assert done.returncode == 1
    assert f"port {port} is in use — is the demo already running?" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    # Refused before migrating: the second data directory got no database.
    assert not (tmp_path / "b" / "app.db").exists()


def test_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with running_server(tmp_path / "a") as server:
        done = serve(tmp_path / "a", "--port", str(free_port()))
        assert server.process.poll() is None  # the first one keeps serving
    assert done.returncode == 1
    assert "is using the data directory" in done.stderr
    assert str(server.process.pid) in done.stderr


def test_port_and_host_come_from_the_environment(tmp_path: Path) -> None:
    done = serve(tmp_path / "a", env={"PORT": "not-a-port"})
    assert done.returncode == 2
    assert "PORT='not-a-port' is not a port number" in done.stderr

    port = free_port()
    data_dir = tmp_path / "b"
    data_dir.mkdir()
    log = data_dir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],  # no --host/--port
            cwd=ROOT,
            env=server_env(data_dir, {"PORT": str(port), "HOST": "127.0.0.1"}),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_healthy()
        assert f"Ready on http://127.0.0.1:{port}" in server.output()
        assert server.stop() == 0
    finally:
        server.kill()
