"""/realtime/v1 with supabase-js (Node, serializer 2.0.0, as browsers and the Android app's web
views use it) beside the Python client (serializer 1.0.0): both hear each other's broadcasts
and the database's. The Node side is tests/js/realtime_client.mjs, installed by `make install`
(tests/js/install.sh)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.config import Settings
from tests.test_realtime import DOCTOR_USER, PATIENT, PATIENT_USER, join, run, token

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / ".local" / "js-clients"


@pytest.fixture(scope="module")
def node_client() -> Path:
    """The Node script beside the installed node_modules it imports."""
    if not (CLIENTS / "node_modules" / "@supabase" / "supabase-js").is_dir():
        pytest.fail("the JavaScript clients are not installed: run `make install`")
    script = CLIENTS / "realtime_client.mjs"
    shutil.copyfile(ROOT / "tests" / "js" / "realtime_client.mjs", script)
    return script


def node() -> str:
    private = ROOT / ".local" / "node" / "bin" / "node"
    return str(private) if private.exists() else "node"


def start(script: Path, stack: Settings, gateway: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [node(), str(script)],
        env={**os.environ, "SUPABASE_URL": gateway, "ANON_KEY": stack.anon_key, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def lines(process: subprocess.Popen) -> list[dict[str, Any]]:
    out, _ = process.communicate(timeout=30)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def until_subscribed(process: subprocess.Popen) -> None:
    """Reads the Node client's lines until it reports SUBSCRIBED (its first lines)."""
    assert process.stdout is not None
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, process.stdout.readline)
        if not line:
            raise AssertionError("the Node client ended before subscribing")
        if json.loads(line).get("status") == "SUBSCRIBED":
            return


def test_supabase_js_speaks_serializer_2_and_hears_the_python_client_and_the_database(
    node_client: Path, gateway: str, stack: Settings
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        listener = start(node_client, stack, gateway, TOPIC="js-room", SECONDS="3")
        await until_subscribed(listener)
        python = await join(gateway, stack, "js-room")
        await python.channel.send_broadcast("from-python", {"n": 1})
        with psycopg.connect(stack.dsn()) as conn:
            conn.execute("select realtime.send('{\"n\": 2}'::jsonb, 'from-db', 'js-room', false)")
        await python.client.close()
        return await asyncio.get_running_loop().run_in_executor(None, lines, listener)

    heard = [line["broadcast"] for line in run(scenario) if "broadcast" in line]
    assert [(b["event"], b["payload"]["n"]) for b in heard] == [("from-python", 1), ("from-db", 2)]
    assert heard[1]["meta"]["id"]  # a database message carries its id


def test_the_python_client_hears_supabase_js(
    node_client: Path, gateway: str, stack: Settings
) -> None:
    async def scenario() -> tuple[list, list]:
        python = await join(gateway, stack, "js-room-2")
        sender = start(
            node_client,
            stack,
            gateway,
            TOPIC="js-room-2",
            SEND_EVENT="from-js",
            SEND_PAYLOAD='{"n": 3}',
            SECONDS="2",
        )
        received = await python.received(1, within=5)
        await python.client.close()
        report = await asyncio.get_running_loop().run_in_executor(None, lines, sender)
        return received, report

    received, report = run(scenario)
    assert {"vsn": "2.0.0"} in report
    assert {"sent": "ok"} in report  # acknowledged (ack: true)
    assert [(b["event"], b["payload"]) for b in received] == [("from-js", {"n": 3})]


def test_supabase_js_joins_its_users_private_topic_and_hears_a_booking(
    node_client: Path, gateway: str, stack: Settings, book: Callable[[str], Awaitable[str]]
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], str]:
        doctor = start(
            node_client,
            stack,
            gateway,
            TOPIC=f"user:{DOCTOR_USER}",
            PRIVATE="1",
            ACCESS_TOKEN=token(stack, DOCTOR_USER),
            SECONDS="3",
        )
        await until_subscribed(doctor)
        appointment = await book(PATIENT)
        report = await asyncio.get_running_loop().run_in_executor(None, lines, doctor)
        return report, appointment

    report, appointment = run(scenario)
    heard = [line["broadcast"] for line in report if "broadcast" in line]
    created = [b for b in heard if b["event"] == "appointment_created"]
    assert [b["payload"]["appointment_id"] for b in created] == [appointment]
    assert created[0]["meta"]["id"]


def test_supabase_js_cannot_join_another_users_topic(
    node_client: Path, gateway: str, stack: Settings
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        patient = start(
            node_client,
            stack,
            gateway,
            TOPIC=f"user:{DOCTOR_USER}",
            PRIVATE="1",
            ACCESS_TOKEN=token(stack, PATIENT_USER),
            SECONDS="2",
        )
        return await asyncio.get_running_loop().run_in_executor(None, lines, patient)

    statuses = [line for line in run(scenario) if "status" in line]
    assert "SUBSCRIBED" not in [s["status"] for s in statuses]
    assert any("Unauthorized" in (s["error"] or "") for s in statuses)
