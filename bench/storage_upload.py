"""Storage uploads: throughput (MB/s) of a standard upload (one streamed request), a resumable
one (TUS with the official `tuspy` client, 6 MiB chunks) and a download, each of a 500 MB file,
and the gateway workers' resident memory meanwhile: sampled every 20 ms from /proc, the peak
against the worker's size before, to show that the body streams to disk instead of
accumulating. Client, gateway (two workers) and Postgres share the same 2 cores. Rewrites the
Storage section of bench/REPORT.md.

Run with `make bench-storage` (the stack must be up: `make up`). Bounded: about a minute and
1.5 GB of temporary disk.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from tusclient import client as tus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack.config import Settings  # noqa: E402

SIZE = 500 * 1024 * 1024
MB = 1024 * 1024
BUCKET = "bench-storage"
SECTION = "## Storage"


def gateway_workers(settings: Settings) -> list[int]:
    """The uvicorn worker processes: children of the gateway's pid file's process."""
    suffix = "" if settings.api_port == 54321 else f"-{settings.api_port}"
    parent = (settings.local_dir / f"gateway{suffix}.pid").read_text().strip()
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if fields.get("PPid", "").strip() == parent:
            children.append(int(status.parent.name))
    return children or [int(parent)]


def rss(pid: int) -> int:
    """Resident set size in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class MemoryWatch:
    """Samples every worker's RSS in a thread while a measurement runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = {pid: rss(pid) for pid in pids}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss(pid))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def growth(self) -> int:
        """The largest growth of one worker over its size before, in bytes."""
        return max(self.peak[pid] - self.before[pid] for pid in self.pids)

    def largest_peak(self) -> int:
        return max(self.peak.values())


def measure(settings: Settings, run: Callable[[], None]) -> tuple[float, MemoryWatch]:
    with MemoryWatch(gateway_workers(settings)) as watch:
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
    return SIZE / MB / elapsed, watch


def chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(MB):
            yield chunk


def main() -> int:
    settings = Settings.from_env()
    base = f"{settings.api_url}/storage/v1"
    key = settings.service_role_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    httpx.post(f"{base}/bucket", json={"name": BUCKET}, headers=headers)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "study.bin"
        with source.open("wb") as file:
            for _ in range(SIZE // (8 * MB)):
                file.write(os.urandom(8 * MB))

        def standard() -> None:
            answer = httpx.post(
                f"{base}/object/{BUCKET}/standard.bin",
                content=chunks_of(source),
                headers={**headers, "content-type": "application/octet-stream", "x-upsert": "true"},
                timeout=300,
            )
            answer.raise_for_status()

        def resumable() -> None:
            uploader = tus.TusClient(
                f"{base}/upload/resumable", headers={**headers, "x-upsert": "true"}
            ).uploader(
                str(source),
                chunk_size=6 * MB,
                metadata={"bucketName": BUCKET, "objectName": "resumable.bin"},
            )
            uploader.upload()

        def download() -> None:
            with httpx.stream(
                "GET", f"{base}/object/{BUCKET}/standard.bin", headers=headers, timeout=300
            ) as answer:
                answer.raise_for_status()
                for _ in answer.iter_bytes():
                    pass

        for label, run in [
            ("standard upload (one request)", standard),
            ("resumable upload (TUS, 6 MiB chunks)", resumable),
            ("download", download),
        ]:
            speeds, watches = [], []
            for _ in range(2):
                speed, watch = measure(settings, run)
                speeds.append(speed)
                watches.append(watch)
            growth = max(w.growth() for w in watches) / MB
            peak = max(w.largest_peak() for w in watches) / MB
            rows.append((label, statistics.median(speeds), growth, peak))
    httpx.post(f"{base}/bucket/{BUCKET}/empty", headers=headers)
    httpx.delete(f"{base}/bucket/{BUCKET}", headers=headers)
    section = report(rows)
    rewrite_section(section)
    print(section)
    return 0


def report(rows: list[tuple[str, float, float, float]]) -> str:
    lines = [
        SECTION,
        "",
        f"`make bench-storage` ({time.strftime('%Y-%m-%d')}): a {SIZE // MB} MB file through"
        " /storage/v1 on the loopback, client, gateway (2 workers) and Postgres on the same"
        " 2 cores; median of 2 runs. Memory: each gateway worker's RSS sampled every 20 ms,"
        " the largest growth over its size before the transfer, and the largest RSS seen.",
        "",
        "| transfer | MB/s | worker RSS growth | worker RSS peak |",
        "|---|---:|---:|---:|",
    ]
    for label, speed, growth, peak in rows:
        lines.append(f"| {label} | {speed:.0f} | {growth:.1f} MB | {peak:.0f} MB |")
    lines.append("")
    lines.append(
        "The body goes to disk chunk by chunk (at most one chunk of the socket's buffer held),"
        " fsynced and renamed into place with the row's commit; a worker's memory does not"
        " grow with the object's size."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
