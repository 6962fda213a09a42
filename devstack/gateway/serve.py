"""Serves the gateway with one uvicorn process per core on a shared port.

Each worker opens its own listening socket with SO_REUSEPORT (the kernel spreads
connections) and TCP_NODELAY, which accepted connections inherit: uvicorn's own multi-worker
mode leaves Nagle's algorithm on, and every keep-alive response then waits ~40 ms for the
client's delayed ACK.

`python -m devstack.gateway.serve [--workers N]`; stopping the parent stops the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import uvicorn

from devstack.config import Settings


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def run_worker(settings: Settings) -> None:
    # proxy_headers off: uvicorn would otherwise take the client address from the
    # X-Forwarded-For of any request from 127.0.0.1; the gateway decides whom to trust itself.
    config = uvicorn.Config(
        "devstack.gateway.app:create_app",
        factory=True,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    sock = listening_socket(settings.api_host, settings.api_port)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.gateway.serve")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.worker or args.workers == 1:
        run_worker(settings)
        return 0
    workers = [
        subprocess.Popen([sys.executable, "-m", "devstack.gateway.serve", "--worker"])
        for _ in range(args.workers)
    ]

    def stop(*_: object) -> None:
        for worker in workers:
            worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [worker.wait() for worker in workers]
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main())
