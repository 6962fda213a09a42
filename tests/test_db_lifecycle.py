"""`carebase db ...`: the cluster lifecycle and its error messages, as a developer sees them."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
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


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[dict[str, str]]:
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


@pytest.fixture
def own_cluster() -> Iterator[dict[str, str]]:
    with throwaway_cluster() as env:
        yield env


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


def test_a_missing_pg_cron_package_is_reported_with_the_install_command(tmp_path: Path) -> None:
    bindir = tmp_path / "15" / "bin"  # the server is there, its lib/pg_cron.so is not
    bindir.mkdir(parents=True)
    (bindir / "pg_ctl").touch()
    result = carebase("db", "start", env={"CAREBASE_PG_BINDIR": str(bindir)})
    assert result.returncode == 1
    assert "pg_cron" in result.stderr
    assert "apt-get install -y postgresql-15-cron" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cluster_in_a_deeply_nested_checkout_still_starts(own_cluster: dict[str, str]) -> None:
    """Its socket path would pass PostgreSQL's 107-byte limit: the server listens on TCP only."""
    base = Path(own_cluster["CAREBASE_DB_DIR"])
    deep = base.joinpath(*["nested-folder"] * 8)
    assert len(str(deep / "run" / ".s.PGSQL.54322")) > 107
    deep.mkdir(parents=True)
    for folder in (deep, *deep.parents):  # reachable by the postgres OS user under root
        if folder == base:
            break
        folder.chmod(0o755)
    env = {**own_cluster, "CAREBASE_DB_DIR": str(deep)}
    try:
        started = carebase("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        status = carebase("db", "status", env=env)
        assert status.returncode == 0
        assert f":{own_cluster['CAREBASE_DB_PORT']}/" in status.stdout
    finally:
        carebase("db", "stop", env=env)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another OS user")
def test_as_root_the_server_runs_as_postgres_outside_a_checkout_it_cannot_reach() -> None:
    """A checkout under a private folder (e.g. /root): the cluster moves where `postgres` can
    reach it, says where, and is found there again by the next command."""
    checkout = Path(tempfile.mkdtemp(prefix="carebase-private-"))  # mode 0700, owned by root
    env = {
        "CAREBASE_HOME": str(checkout),
        "CAREBASE_DB_PORT": str(free_port()),
        "CAREBASE_DB_DIR": "",
    }
    fallback: Path | None = None
    try:
        started = carebase("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert "the postgres OS user cannot reach" in started.stdout
        fallback = Path((checkout / ".local" / "db-location").read_text().strip())
        assert str(fallback) in started.stdout
        assert fallback.is_relative_to(Path("~postgres").expanduser())

        pid = int((fallback / "data" / "postmaster.pid").read_text().splitlines()[0])
        owner = subprocess.run(
            ["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True, check=True
        )
        assert owner.stdout.strip() == "postgres"

        status = carebase("db", "status", env=env)
        assert status.returncode == 0
        assert str(fallback / "data") in status.stdout
    finally:
        carebase("db", "stop", env=env)
        if fallback is not None:
            shutil.rmtree(fallback, ignore_errors=True)
        shutil.rmtree(checkout, ignore_errors=True)


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


def test_a_pid_file_naming_another_clusters_postgres_is_stale(
    stack: Settings, own_cluster: dict[str, str]
) -> None:
    """After a crash the pid may belong to a postgres of another cluster: `status` must not
    call it running, `start` must start this one and `stop` must leave the other alone."""
    assert carebase("db", "start", env=own_cluster).returncode == 0
    assert carebase("db", "stop", env=own_cluster).returncode == 0
    with throwaway_cluster() as other:
        assert carebase("db", "start", env=other).returncode == 0
        other_data = Path(other["CAREBASE_DB_DIR"]) / "data"
        other_postmaster = (other_data / "postmaster.pid").read_text().splitlines()[0]
        pid_file = Path(own_cluster["CAREBASE_DB_DIR"]) / "data" / "postmaster.pid"
        pid_file.write_text(f"{other_postmaster}\n")

        assert carebase("db", "status", env=own_cluster).returncode == 3, "not running"
        pid_file.write_text(f"{other_postmaster}\n")
        assert "database: was not running" in carebase("db", "stop", env=own_cluster).stdout
        assert carebase("db", "status", env=other).returncode == 0, "the other one still runs"

        pid_file.write_text(f"{other_postmaster}\n")
        restarted = carebase("db", "start", env=own_cluster)
        assert restarted.returncode == 0, restarted.stderr
        admin = stack.dsn(stack.admin_user)  # a new cluster has only its superuser
        with psycopg.connect(admin, port=own_cluster["CAREBASE_DB_PORT"]) as conn:
            assert conn.execute("select 1").fetchone() == (1,), "its own server answers"


def test_migrating_a_stopped_database_says_how_to_start_it() -> None:
    result = carebase("db", "migrate", env={"CAREBASE_DB_PORT": str(free_port())})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "carebase db start" in result.stderr
    assert "Traceback" not in result.stderr
