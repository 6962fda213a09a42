"""Runs the gateway in the background for `carebase up` and the tests; stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devstack.config import Settings
from devstack.errors import DevstackError

# one per core of the reference machine; CAREBASE_GATEWAY_WORKERS overrides (benchmarks)
WORKERS = int(os.environ.get("CAREBASE_GATEWAY_WORKERS") or 2)
DEFAULT_PORT = 54321


def _suffix(settings: Settings) -> str:
    # A stack on another port (CAREBASE_API_PORT) keeps its own pid and log file, so that it
    # neither mistakes the default stack's gateway for its own nor stops it.
    return "" if settings.api_port == DEFAULT_PORT else f"-{settings.api_port}"


def _pid_file(settings: Settings) -> Path:
    return settings.local_dir / f"gateway{_suffix(settings)}.pid"


def log_file(settings: Settings) -> Path:
    return settings.local_dir / f"gateway{_suffix(settings)}.log"


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        _pid_file(settings).unlink(missing_ok=True)
        return None
    return pid


def _listening(settings: Settings) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((settings.api_host, settings.api_port)) == 0


def start(settings: Settings) -> bool:
    """Start the gateway unless it runs; returns whether it was started now."""
    if running_pid(settings):
        return False
    if _listening(settings):
        raise DevstackError(
            f"port {settings.api_port} on {settings.api_host} is already taken by another "
            "process (`supabase start`?)",
            "stop that process or set CAREBASE_API_PORT to a free port",
        )
    settings.local_dir.mkdir(parents=True, exist_ok=True)
    with log_file(settings).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack.gateway.serve", "--workers", str(WORKERS)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=settings.repo_root,
        )
    _pid_file(settings).write_text(str(process.pid))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _listening(settings):
            return True
        time.sleep(0.2)
    stop(settings)
    tail = "\n".join(log_file(settings).read_text(errors="replace").splitlines()[-15:])
    raise DevstackError(f"the gateway did not start; the end of {log_file(settings)}:\n{tail}")


def stop(settings: Settings) -> bool:
    """Stop the gateway if it runs; returns whether it was running."""
    pid = running_pid(settings)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _exited(pid):
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    _pid_file(settings).unlink(missing_ok=True)
    return True


def _exited(pid: int) -> bool:
    """Whether the process has exited. A gateway started by this process (the test fixtures)
    is reaped here: unreaped, it would linger as a zombie that `kill(pid, 0)` still finds."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return True
    except ChildProcessError:
        pass  # started by another process (`carebase up`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
