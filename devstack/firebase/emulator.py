"""The Firebase Auth emulator as a background service of the local stack.

`carebase up` runs it when devstack/firebase/install.sh has installed the Firebase CLI, on
CAREBASE_FIREBASE_AUTH_PORT (default 9099) for the project CAREBASE_FIREBASE_PROJECT_ID
(default `demo-carebase`: a `demo-` project needs no credentials and never goes online). Its
hub and logging ports are the next two. `python -m devstack.firebase.emulator` is the
launcher the service runs: it writes this stack's firebase.json and execs the CLI.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from devstack.background import BackgroundService
from devstack.config import Settings

DEFAULT_PORT = 9099
DEFAULT_PROJECT_ID = "demo-carebase"
TEMPLATE = Path(__file__).with_name("firebase.json")


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def auth_port() -> int:
    return int(_env("CAREBASE_FIREBASE_AUTH_PORT", str(DEFAULT_PORT)))


def project_id() -> str:
    return _env("CAREBASE_FIREBASE_PROJECT_ID", DEFAULT_PROJECT_ID)


def emulator_host(settings: Settings) -> str:
    return f"{settings.api_host}:{auth_port()}"


def cli(settings: Settings) -> Path:
    return settings.local_dir / "firebase-tools" / "node_modules" / ".bin" / "firebase"


def sidecar_environment(settings: Settings) -> dict[str, str]:
    """What the sidecar needs to use this emulator (firebase-admin reads the emulator host)."""
    return {
        "FIREBASE_AUTH_EMULATOR_HOST": emulator_host(settings),
        "FIREBASE_PROJECT_ID": project_id(),
        "FIREBASE_WEB_API_KEY": "demo-api-key",
    }


def service(settings: Settings) -> BackgroundService | None:
    """The emulator service, or None while the Firebase CLI is not installed."""
    if not cli(settings).exists():
        return None
    port = auth_port()
    # A stack on another port keeps its own pid file, log and state.
    name = "firebase-auth" if port == DEFAULT_PORT else f"firebase-auth-{port}"
    return BackgroundService(
        name=name,
        argv=[sys.executable, "-m", "devstack.firebase.emulator", settings.api_host, str(port)],
        local_dir=settings.local_dir,
        cwd=settings.repo_root,
        host=settings.api_host,
        port=port,
        env={"CAREBASE_FIREBASE_PROJECT_ID": project_id()},
        port_hint="CAREBASE_FIREBASE_AUTH_PORT",
        start_timeout=90.0,
    )


def write_config(workdir: Path, host: str, port: int) -> Path:
    config = json.loads(TEMPLATE.read_text())
    emulators = config["emulators"]
    for offset, name in enumerate(("auth", "hub", "logging")):
        emulators[name] = {"host": host, "port": port + offset}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "firebase.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def main(argv: list[str]) -> None:
    host, port = argv[0], int(argv[1])
    settings = Settings.from_env()
    workdir = settings.local_dir / f"firebase-auth-{port}"
    config = write_config(workdir, host, port)
    env = {
        **os.environ,
        # Offline and quiet: no update check, no message of the day, no prompts; the CLI's
        # own settings (usage statistics are off unless opted in) live in the work dir.
        "CI": "1",
        "NO_UPDATE_NOTIFIER": "1",
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }
    # install.sh puts a Node.js 20 here when the system's is too old for firebase-tools.
    private_node = settings.local_dir / "node" / "bin"
    if (private_node / "node").exists():
        env["PATH"] = f"{private_node}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(workdir)  # the CLI writes firebase-debug.log to the working directory
    args = ["emulators:start", "--only", "auth", "--project", project_id(), "--config", str(config)]
    os.execve(cli(settings), [str(cli(settings)), *args], env)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
