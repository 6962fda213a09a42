"""The README's "Five-minute tour", run as a new user runs it: its shell blocks in order, in one
bash, from the checkout, against the stack `make up` leaves (demo data loaded). Every block must
succeed (bash -euo pipefail) and print the lines the README shows under it, in order (`…`
matches anything); what hides behind a `…` that matters is checked against the database. The
stack's ports reach the blocks through the variables they read (CAREBASE_API_PORT, ...).
What the tour made (Ramesh Kumar's appointment, note and prescription) is removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from devstack.config import Settings
from devstack.firebase import emulator

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Five-minute tour"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
RAMESH = "60000000-0000-4000-8000-000000000003"
MEHTA_USER = "20000000-0000-4000-8000-000000000003"


def tour_steps(readme: str) -> list[tuple[str, str]]:
    """(shell block, the output block under it or "") for each shell block of the tour."""
    section = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, str]] = []
    for language, body in FENCE.findall(section):
        if language == "sh":
            steps.append((body, ""))
        elif language == "text":
            assert steps and not steps[-1][1], "an output block follows its shell block"
            steps[-1] = (steps[-1][0], body)
    return steps


def not_shown(expected: str, printed: list[str]) -> list[str]:
    """The expected lines that were not printed, in order (whole lines; `…` matches anything)."""
    missing = []
    rest = iter(printed)
    for line in expected.splitlines():
        pattern = re.compile(".*".join(re.escape(part) for part in line.split("…")))
        if not any(pattern.fullmatch(candidate) for candidate in rest):
            missing.append(line)
            rest = iter(printed)
    return missing


def run(stack: Settings, steps: list[tuple[str, str]]) -> tuple[int, str, list[list[str]]]:
    """Runs the blocks in one bash; (exit status, stderr, the lines each block printed)."""
    script = "set -euo pipefail\n"
    script += "".join(f"echo '::step::'\n{block}\n" for block, _ in steps)
    script += "echo '::done::'\n"
    env = {
        **os.environ,
        "CAREBASE_API_PORT": str(stack.api_port),
        "CAREBASE_SIDECAR_PORT": str(stack.sidecar_port),
        "CAREBASE_FIREBASE_AUTH_PORT": str(emulator.auth_port()),
        "CAREBASE_FIREBASE_PROJECT_ID": emulator.project_id(),
        "CAREBASE_ANON_KEY": stack.anon_key,
    }
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    printed: list[list[str]] = []
    status = result.returncode if result.stdout.endswith("::done::\n") else result.returncode or 1
    for line in result.stdout.splitlines():
        if line == "::step::":
            printed.append([])
        elif line != "::done::":
            printed[-1].append(line)
    return status, result.stderr, printed


def test_the_tour_is_eleven_blocks_and_every_one_that_prints_shows_what() -> None:
    steps = tour_steps((ROOT / "README.md").read_text())
    assert len(steps) == 11
    assert all(expected for block, expected in steps if "jq -c" in block)


@pytest.fixture
def since(stack: Settings) -> Iterator[datetime]:
    """When the tour started. Afterwards what it made for Ramesh Kumar is removed (clinical
    rows are never deleted through any role: the superuser skips the guards in replica mode);
    the audit trail keeps its entries, as it keeps every test's."""
    started = datetime.now(UTC)
    yield started
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        (appointments, prescriptions, notes) = conn.execute(
            "select array(select id from public.appointments"
            "  where patient_id = %(p)s and created_at >= %(t)s),"
            " array(select id from public.prescriptions"
            "  where patient_id = %(p)s and issued_at >= %(t)s),"
            " array(select id from public.clinical_notes"
            "  where patient_id = %(p)s and created_at >= %(t)s)",
            {"p": RAMESH, "t": started},
        ).fetchone()
        made = {"a": appointments, "rx": prescriptions, "notes": notes}
        for statement in (
            "delete from public.prescription_dispensings where prescription_item_id in"
            " (select id from public.prescription_items where prescription_id = any(%(rx)s))",
            "delete from public.prescription_items where prescription_id = any(%(rx)s)",
            "delete from public.status_history where subject_id = any(%(rx)s || %(a)s)",
            "delete from private.outbox where subject_id = any(%(rx)s || %(a)s)",
            "delete from public.prescriptions where id = any(%(rx)s)",
            "delete from public.clinical_notes where id = any(%(notes)s)",
            "delete from public.appointments where id = any(%(a)s)",
        ):
            conn.execute(statement, made)


def test_the_readme_tour_runs_as_written(
    stack: Settings, gateway: str, sidecar: str, since: datetime
) -> None:
    steps = tour_steps((ROOT / "README.md").read_text())
    status, stderr, printed = run(stack, steps)
    failed = len(printed) - 1
    assert status == 0, (
        f"block {failed} failed (exit {status}):\n{steps[failed][0]}\n"
        f"it printed:\n{chr(10).join(printed[failed])}\n{stderr}"
    )
    for n, (block, expected) in enumerate(steps):
        missing = not_shown(expected, printed[n])
        assert not missing, (
            f"block {n}:\n{block}\nprinted:\n{chr(10).join(printed[n])}\n"
            f"but not, as the README shows:\n{chr(10).join(missing)}"
        )

    shown = [[json.loads(line) for line in lines if line.startswith("{")] for lines in printed]
    # Block 5 (find slots and book): there were free slots, and the first is the one booked.
    *_, slots, booked = shown[5]
    assert slots["free_slots"] > 0
    assert booked["starts_at"] == slots["first"]["starts_at"]
    with psycopg.connect(stack.dsn()) as conn:
        # Blocks 8 and 9: the doctor refused read nothing, so the trail has nothing of his.
        (by_mehta,) = conn.execute(
            "select count(*) from audit.log where actor_id = %s and occurred_at >= %s",
            (MEHTA_USER, since),
        ).fetchone()
        # Block 10 (a busy hospital): the counts are the database's.
        (total, waiting) = conn.execute(
            "select (select count(*) from public.appointments as a"
            "  join public.hospitals as h on h.id = a.hospital_id where h.code = 'PTA'),"
            " (select count(*) from public.prescriptions as p"
            "  join public.pharmacists as ph on ph.pharmacy_id = p.pharmacy_id"
            "  join auth.users as u on u.id = ph.user_id"
            "  where u.email = 'pharmacist1@pta.carebase.test' and p.status = 'pending')"
        ).fetchone()
    assert by_mehta == 0
    stats, queue = shown[10]
    assert stats["total"] == total > 0
    assert queue["waiting"] == waiting
    assert waiting > 0, "demo data older than a month: `carebase db reset` makes it for today"
