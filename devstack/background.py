"""Long-running helpers of the local stack (sidecar, workers, emulators) as background processes.

Each service has a pid file and a log in `.local/`; `start` waits until it listens on its port
(or, with no port, until it has stayed up for a moment) and shows the end of its log if it
dies; `stop` ends its whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.errors import DevstackError


@dataclass(frozen=True)
class BackgroundService:
    name: str
    argv: Sequence[str]
    local_dir: Path
    cwd: Path
    host: str = "127.0.0.1"
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    port_hint: str = ""  # which variable moves the port, for the "port taken" message
    start_timeout: float = 30.0

    @property
    def log_file(self) -> Path:
        return self.local_dir / f"{self.name}.log"

    @property
    def _pid_file(self) -> Path:
        return self.local_dir / f"{self.name}.pid"

    def running_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            self._pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _listening(self) -> bool:
        if self.port is None:
            return False
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex((self.host, self.port)) == 0

    def start(self) -> bool:
        """Start the service unless it runs; returns whether it was started now."""
        if self.running_pid():
            return False
        if self._listening():
            raise DevstackError(
                f"{self.name}: port {self.port} on {self.host} is already taken by another process",
                f"stop that process or set {self.port_hint or 'its port variable'} to a free port",
            )
        self.local_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.cwd,
                env={**os.environ, **self.env},
            )
        self._pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + self.start_timeout
        settle_until = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if self._listening() or (self.port is None and time.monotonic() > settle_until):
                return True
            time.sleep(0.2)
        self.stop()
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
        raise DevstackError(f"{self.name} did not start; the end of {self.log_file}:\n{tail}")

    def stop(self) -> bool:
        """Stop the service if it runs; returns whether it was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)
        return True
