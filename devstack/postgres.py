"""Lifecycle of the local PostgreSQL 15 cluster: where it lives, init, start, stop, status.

PostgreSQL refuses to run as root, so when devstack runs as root every server command runs
as the `postgres` OS user (created by Debian's postgresql-common), and the data directory
must be somewhere that user can reach.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.config import Settings
from devstack.errors import DevstackError

# A Unix socket's path must fit in sockaddr_un.sun_path (108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107

INSTALL_FIX = "run `make up` (it installs what is missing) or: sudo apt-get install -y {pkg}"

# Rewritten at every start, so a changed port or setting applies on the next start.
SERVER_SETTINGS = """\
# Written by devstack at every start; edit devstack/postgres.py instead.
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{socket_dir}'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
wal_level = logical
max_connections = 200
timezone = 'UTC'
# As hosted Supabase's platform defaults (supabase/postgres: postgresql-platform-defaults.conf):
# JIT compiling a short API query costs more than it saves.
jit = off
# The local cluster holds disposable data: trade durability for test speed.
fsync = off
synchronous_commit = off
# An asynchronous commit reaches the flushed WAL, which Realtime's Postgres Changes read,
# within this delay (the default 200 ms, up to three times over, would show in every event).
wal_writer_delay = 10ms
full_page_writes = off
"""


@dataclass(frozen=True)
class Cluster:
    settings: Settings
    location: Path  # holds data/, run/ and postgres.log

    @property
    def data_dir(self) -> Path:
        return self.location / "data"

    @property
    def socket_dir(self) -> Path:
        return self.location / "run"

    @property
    def log_file(self) -> Path:
        return self.location / "postgres.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(argv: list[str]) -> list[str]:
    """Prefix a command so that it runs as the OS user that owns the cluster."""
    return ["runuser", "-u", "postgres", "--", *argv] if _running_as_root() else argv


def _server_user_can_use(path: Path) -> bool:
    probe = _as_server_user(["test", "-r", str(path), "-a", "-w", str(path), "-a", "-x", str(path)])
    return subprocess.run(probe, capture_output=True).returncode == 0


def _give_to_server_user(path: Path) -> None:
    if _running_as_root():
        account = pwd.getpwnam("postgres")
        os.chown(path, account.pw_uid, account.pw_gid)


def check_packages(settings: Settings) -> None:
    """Fail early, with the install command, when a PostgreSQL package is missing."""
    if not (settings.pg_bindir / "pg_ctl").exists():
        raise DevstackError(
            f"PostgreSQL 15 server binaries not found in {settings.pg_bindir}",
            INSTALL_FIX.format(pkg="postgresql-15"),
        )
    lib_dir = settings.pg_bindir.parent / "lib"
    if not (lib_dir / "pg_cron.so").exists():
        raise DevstackError(
            "the pg_cron extension is not installed", INSTALL_FIX.format(pkg="postgresql-15-cron")
        )
    if _running_as_root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise DevstackError(
                "running as root but there is no `postgres` OS user to run the server as",
                INSTALL_FIX.format(pkg="postgresql-common"),
            ) from None


def locate(settings: Settings) -> Cluster:
    """Where the cluster lives: `.local/db`, unless the server user could not reach it."""
    if settings.db_dir_override:
        return Cluster(settings, settings.db_dir_override)
    pointer = settings.local_dir / "db-location"
    if pointer.exists():
        return Cluster(settings, Path(pointer.read_text().strip()))
    return Cluster(settings, settings.local_dir / "db")


def _prepare_location(cluster: Cluster) -> Cluster:
    """Create the cluster's folder; move it where the server user can reach it if needed."""
    location = cluster.location
    location.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(location)
    if _server_user_can_use(location):
        return cluster
    settings = cluster.settings
    if settings.db_dir_override:
        raise DevstackError(
            f"the postgres OS user cannot read and write {location}",
            "choose a CAREBASE_DB_DIR that user can reach, e.g. under /var/lib/postgresql",
        )
    digest = hashlib.sha256(str(settings.repo_root).encode()).hexdigest()[:12]
    fallback = Path(pwd.getpwnam("postgres").pw_dir) / "carebase" / digest
    fallback.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(fallback)
    (settings.local_dir / "db-location").write_text(f"{fallback}\n")
    shutil.rmtree(location, ignore_errors=True)
    print(
        f"note: the postgres OS user cannot reach {settings.repo_root}; "
        f"the database cluster lives in {fallback}"
    )
    return Cluster(settings, fallback)


def _server_pid(cluster: Cluster) -> int | None:
    """The pid of this cluster's running postmaster, or None (a stale pid file is removed)."""
    try:
        pid = int(cluster.pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        cmdline = []
    # The pid may since have gone to another process, even another cluster's postgres: only
    # a postmaster started on this data directory (`postgres -D <data_dir>`) counts.
    if os.fsencode(cluster.data_dir) in cmdline:
        return pid
    cluster.pid_file.unlink(missing_ok=True)
    print(
        f"note: removed a stale pid file ({cluster.pid_file}: "
        f"process {pid} is not this cluster's server)"
    )
    return None


def is_running(cluster: Cluster) -> bool:
    return cluster.initialized and _server_pid(cluster) is not None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (for a throw-away cluster)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _check_port_free(settings: Settings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As PostgreSQL does: connections in TIME_WAIT from a just-stopped server don't count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.db_host, settings.db_port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise DevstackError(
                f"port {settings.db_port} on {settings.db_host} is already taken by another "
                "process (another PostgreSQL, or `supabase start`?)",
                f"stop that process (`ss -ltnp 'sport = :{settings.db_port}'` shows it) "
                "or set CAREBASE_DB_PORT to a free port",
            ) from None


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(_as_server_user(argv), capture_output=True, text=True)
    if result.returncode != 0:
        raise DevstackError(f"{what} failed:\n{(result.stderr or result.stdout).strip()}")
    return result


def _initdb(cluster: Cluster) -> None:
    settings = cluster.settings
    password_file = cluster.location / ".initdb-password"
    password_file.write_text(settings.admin_password + "\n")
    password_file.chmod(0o600)
    _give_to_server_user(password_file)
    try:
        _run(
            [
                str(settings.pg_bindir / "initdb"),
                f"--pgdata={cluster.data_dir}",
                f"--username={settings.admin_user}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
    finally:
        password_file.unlink(missing_ok=True)
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists = 'carebase.conf'\n")


def _write_server_settings(cluster: Cluster) -> None:
    settings = cluster.settings
    socket = cluster.socket_dir / f".s.PGSQL.{settings.db_port}"
    # In a deeply nested checkout the socket path would be too long and PostgreSQL would not
    # start; everything devstack runs connects over TCP, so the socket is only a convenience.
    socket_dir = cluster.socket_dir if len(bytes(socket)) <= MAX_SOCKET_PATH else ""
    conf = cluster.data_dir / "carebase.conf"
    conf.write_text(
        SERVER_SETTINGS.format(host=settings.db_host, port=settings.db_port, socket_dir=socket_dir)
    )
    _give_to_server_user(conf)


def start(settings: Settings) -> tuple[Cluster, bool]:
    """Start the cluster (initialising it first when new). Returns it and whether it is new."""
    check_packages(settings)
    cluster = _prepare_location(locate(settings))
    if is_running(cluster):
        return cluster, False
    _check_port_free(settings)
    created = not cluster.initialized
    if created:
        _initdb(cluster)
    cluster.socket_dir.mkdir(exist_ok=True)
    _give_to_server_user(cluster.socket_dir)
    _write_server_settings(cluster)
    if not cluster.log_file.exists():
        cluster.log_file.touch()
    _give_to_server_user(cluster.log_file)
    result = subprocess.run(
        _as_server_user(
            [
                str(settings.pg_bindir / "pg_ctl"),
                "start",
                "--wait",
                "--timeout=60",
                f"--pgdata={cluster.data_dir}",
                f"--log={cluster.log_file}",
            ]
        ),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and is_running(cluster):
        return cluster, created  # another devstack started it at the same moment
    if result.returncode != 0:
        tail = "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-15:])
        raise DevstackError(
            f"PostgreSQL did not start; the end of {cluster.log_file}:\n{tail}",
            "read the log above; `carebase db reset` starts from an empty cluster",
        )
    return cluster, created


def stop(settings: Settings) -> bool:
    """Stop the cluster if it runs. Returns whether it was running."""
    cluster = locate(settings)
    if not is_running(cluster):
        return False
    _run(
        [
            str(settings.pg_bindir / "pg_ctl"),
            "stop",
            "--wait",
            "--mode=fast",
            f"--pgdata={cluster.data_dir}",
        ],
        "pg_ctl stop",
    )
    return True


def destroy(settings: Settings) -> None:
    """Stop the cluster and delete its data directory."""
    stop(settings)
    cluster = locate(settings)
    shutil.rmtree(cluster.data_dir, ignore_errors=True)
