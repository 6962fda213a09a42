"""`carebase db ...`: the cluster lifecycle and its error messages, as a developer sees them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.config import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def carebase(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.fixture
def own_cluster() -> Iterator[dict[str, str]]:
    """Settings for a second, throw-away cluster on a free port (stopped and removed after)."""
    # /var/tmp: reachable by the postgres OS user when the tests run as root.
    location = Path(tempfile.mkdtemp(prefix="carebase-test-", dir="/var/tmp"))
    location.chmod(0o755)
    env = {"CAREBASE_DB_DIR": str(location), "CAREBASE_DB_PORT": str(free_port())}
    try:
        yield env
    finally:
        carebase("db", "stop", env=env)
        shutil.rmtree(location, ignore_errors=True)


def test_status_of_the_running_stack_says_how_to_reach_it(stack: Settings) -> None:
    result = carebase("db", "status")
    assert result.returncode == 0
    assert stack.url() in result.stdout


def test_a_taken_port_is_reported_with_the_fix(own_cluster: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(own_cluster["CAREBASE_DB_PORT"])))
        squatter.listen()
        result = carebase("db", "start", env=own_cluster)
    assert result.returncode == 1
    assert f"port {own_cluster['CAREBASE_DB_PORT']}" in result.stderr
    assert "already taken" in result.stderr
    assert "CAREBASE_DB_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_postgres_package_is_reported_with_the_install_command() -> None:
    result = carebase("db", "start", env={"CAREBASE_PG_BINDIR": "/nonexistent/15/bin"})
    assert result.returncode == 1
    assert "apt-get install -y postgresql-15" in result.stderr
    assert "Traceback" not in result.stderr


def test_start_stop_status_and_a_stale_pid_file(own_cluster: dict[str, str]) -> None:
    started = carebase("db", "start", env=own_cluster)
    assert started.returncode == 0, started.stderr
    assert carebase("db", "status", env=own_cluster).returncode == 0
    assert carebase("db", "start", env=own_cluster).returncode == 0, "a second start is a no-op"

    assert "stopped" in carebase("db", "stop", env=own_cluster).stdout
    stopped = carebase("db", "status", env=own_cluster)
    assert stopped.returncode == 3
    assert "stopped" in stopped.stdout

    # A crash leaves postmaster.pid behind, naming a process that no longer exists.
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_file = Path(own_cluster["CAREBASE_DB_DIR"]) / "data" / "postmaster.pid"
    pid_file.write_text(f"{gone.pid}\n")
    restarted = carebase("db", "start", env=own_cluster)
    assert restarted.returncode == 0, restarted.stderr
    assert "stale pid file" in restarted.stdout
    assert carebase("db", "status", env=own_cluster).returncode == 0


def test_migrating_a_stopped_database_says_how_to_start_it() -> None:
    result = carebase("db", "migrate", env={"CAREBASE_DB_PORT": str(free_port())})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "carebase db start" in result.stderr
    assert "Traceback" not in result.stderr
