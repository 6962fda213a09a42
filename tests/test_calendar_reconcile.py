"""Reconciliation of the Cal.com mirror (issue 14, item 4) through the running stack and the
local Cal.com fake served over HTTP: after an hour in which every webhook was lost (bookings
made, moved, moved out of the window, cancelled; one booking gone from Cal.com; a carebase
booking Cal.com no longer has), one run makes the mirror match Cal.com and reports what it
did; a second run changes nothing. Carebase keeps its clinical status: a completed
appointment cancelled in Cal.com stays completed and is flagged for the front desk. The
`carebase reconcile cal` command runs one and prints the counts.

Runs on the demo hospital with the webhook tests' run (tests/test_calcom_webhook.py): far-future
times, a Cal.com user and key of the run's own, everything removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.config import Settings
from devstack.local_server import LocalServer
from sidecar.integrations.calcom import CalcomClient, iso
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.calendar_reconcile import COUNTS, CalendarReconciler
from sidecar.settings import SidecarSettings
from tests.fakes.calcom import FakeCalcom
from tests.test_calcom_webhook import (
    ADMIN,
    FRONT_DESK,
    HOSPITAL,
    LINKED_DOCTOR,
    Run,
    _clean,
    _link,
    appointments_of,
)

EVENT_TYPE = 9101


class Cal:
    """The run's Cal.com account in the fake, served, with a key of its own."""

    def __init__(self, run: Run, fake: FakeCalcom, base_url: str) -> None:
        self.run = run
        self.fake = fake
        self.base_url = base_url
        self.key = f"cal_{run.tag}"
        fake.add_user(run.cal_user, "Dr. Run", f"{run.tag}@cal.test", api_key=self.key)
        fake.add_event_type(EVENT_TYPE, run.cal_user, "consultation", "Consultation", 30)

    def book(self, day: int, minutes: int = 0, phone: str | None = None) -> str:
        uid = self.fake.book_as_attendee(
            self.run.at(day, minutes),
            "Cal Attendee",
            "",
            phone_number=phone or self.run.phones[0],
            event_type_id=EVENT_TYPE,
        )
        self.run.refs.append(uid)
        return uid

    def move(self, uid: str, day: int, minutes: int = 0) -> str:
        new = self.fake.reschedule_as_attendee(uid, self.run.at(day, minutes))
        self.run.refs.append(new)
        return new

    def deliver(self) -> None:
        deliveries = self.fake.deliver()
        assert [d.status_code for d in deliveries] == [200] * len(deliveries)

    def settings(self) -> SidecarSettings:
        return SidecarSettings(
            supabase_url=self.run.stack.api_url,
            calcom_base_url=self.base_url,
            calcom_api_key=self.key,
        )

    def reconcile(self) -> dict[str, Any]:
        """One manual run over the run's window (a day before its first day to day 30)."""
        settings = self.settings()

        async def once() -> dict[str, Any]:
            async with httpx.AsyncClient(timeout=30) as http:
                client = CalcomClient(settings.calcom_base_url, settings.calcom_api_key, http)
                reconciler = CalendarReconciler(settings, SupabaseApi(settings, http), client)
                return await reconciler.reconcile("manual", self.run.at(-1), self.run.at(30))

        return asyncio.run(once())


@pytest.fixture
def run(stack: Settings, sidecar: str) -> Iterator[Run]:
    the_run = Run(stack, sidecar)
    the_run.phone()
    the_run.query(
        "delete from public.doctor_calendar_links where doctor_id = %s returning id", LINKED_DOCTOR
    )
    linked = _link(the_run, LINKED_DOCTOR, the_run.cal_user)
    assert linked.status_code == 201, linked.text
    yield the_run
    _clean(the_run)
    the_run.query(
        "delete from private.calendar_reconciliations where window_from = %s returning id",
        the_run.at(-1),
    )


@pytest.fixture
def cal(run: Run) -> Iterator[Cal]:
    fake = FakeCalcom(webhook_secret=run.secret, subscriber_url=run.webhook)
    with LocalServer(fake.app) as api:
        yield Cal(run, fake, f"{api.url}/v2")


def counts(run: dict[str, Any]) -> dict[str, int]:
    return {name: run[name] for name in COUNTS}


def complete(run: Run, appointment: Any) -> None:
    """The doctor saw the patient (as the system: the test's shortcut through the states)."""
    for status in ("in_consultation", "completed"):
        run.query(
            "update public.appointments set status = %s where id = %s returning id",
            status,
            appointment,
        )


def mirror_state(run: Run) -> list[tuple[Any, ...]]:
    return run.query(
        "select id, status::text, starts_at, external_ref, sync_state::text, updated_at"
        " from public.appointments where doctor_id = %s and starts_at >= %s and starts_at < %s"
        " order by id",
        LINKED_DOCTOR,
        run.at(-1),
        run.at(90),
    )


def open_flags(run: Run) -> list[tuple[str, str | None, Any]]:
    return run.query(
        "select kind, external_ref, appointment_id from public.calendar_sync_flags"
        " where hospital_id = %s and resolved_at is null and (details ->> 'reconciliation_id')"
        " in (select id::text from private.calendar_reconciliations where window_from = %s)"
        " order by kind",
        HOSPITAL,
        run.at(-1),
    )


def test_an_hour_of_lost_webhooks_is_converged_by_one_run(run: Run, cal: Cal) -> None:
    # Before the outage: bookings mirrored by their webhooks, and one carebase booking synced.
    kept, moved, chain, gone, done, far, vanished = (cal.book(day) for day in range(1, 8))
    cal.deliver()
    (done_id,) = (row[0] for row in appointments_of(run, done))
    complete(run, done_id)
    (vanished_id,) = (row[0] for row in appointments_of(run, vanished))
    patient = run.walk_in()
    with run.rest(FRONT_DESK) as rest:
        booked = rest.post(
            "/rpc/book_appointment",
            json={
                "doctor_id": LINKED_DOCTOR,
                "starts_at": run.at(8).isoformat(),
                "ends_at": run.at(8, 30).isoformat(),
                "patient_id": patient,
                "reason": run.tag,
            },
        )
        assert booked.status_code == 200, booked.text
        ours = booked.json()["id"]
    # The outbound push made it (as the Cal.com worker would record it).
    run.query(
        "update public.appointments set external_ref = %s, sync_state = 'synced' where id = %s"
        " returning id",
        run.uid("pushed"),
        ours,
    )

    # The hour of lost webhooks.
    cal.fake.dropping = True
    new_phone = run.phone()
    new_one = cal.book(10)
    new_two = cal.book(11, phone=new_phone)
    moved_to = cal.move(moved, 2, 60)
    chain_b = cal.move(chain, 12)
    chain_c = cal.move(chain_b, 13)
    cal.fake.cancel_as_attendee(gone)
    cal.fake.cancel_as_attendee(done)
    brief = cal.book(14)
    cal.fake.cancel_as_attendee(brief)
    hop = cal.book(15)
    hop_to = cal.move(hop, 16)
    far_to = cal.move(far, 60)  # out of the window
    with cal.fake.lock:
        del cal.fake.bookings[vanished]  # gone from Cal.com altogether
    cal.fake.dropping = False
    assert len(cal.fake.dropped) == 12 and cal.fake.pending == []

    first = cal.reconcile()
    assert first["error"] is None
    assert first["finished_at"] is not None
    # 14 listed, far_to followed out of the window, vanished and the pushed one looked up.
    assert counts(first) == {
        "checked": 17,
        "created": 4,  # new_one, new_two, brief (cancelled), hop_to
        "updated": 4,  # moved, chain, far (times), ours (to be pushed again)
        "cancelled": 1,  # gone
        "flagged": 2,  # done (completed here, cancelled there), vanished
        "skipped": 0,
    }

    # The mirror matches Cal.com: each live booking is one scheduled appointment at its time,
    # found by every uid of its chain.
    with cal.fake.lock:
        remote = {uid: (b.status, b.start) for uid, b in cal.fake.bookings.items()}
    for uid, older in (
        (kept, []),
        (moved_to, [moved]),
        (chain_c, [chain, chain_b]),
        (new_one, []),
        (new_two, []),
        (hop_to, [hop]),
        (far_to, [far]),
    ):
        rows = appointments_of(run, uid)
        assert [(row[1], row[2], row[3]) for row in rows] == [("scheduled", uid, remote[uid][1])], (
            uid
        )
        for old in older:
            assert appointments_of(run, old) == rows, old
    for uid in (gone, brief):
        assert [row[1] for row in appointments_of(run, uid)] == ["cancelled"], uid
    assert run.query(
        "select p.full_name from public.patients as p join public.appointments as a"
        " on a.patient_id = p.id where a.external_ref = %s",
        new_two,
    ) == [("Cal Attendee",)], "an unknown attendee became a patient, as by the webhook"
    # Carebase keeps its clinical status; a person looks at what could not be fixed.
    assert [row[1] for row in appointments_of(run, done)] == ["completed"]
    assert [row[1] for row in appointments_of(run, vanished)] == ["scheduled"]
    assert open_flags(run) == [
        ("booking_vanished", vanished, vanished_id),
        ("status_conflict", done, done_id),
    ]
    # Carebase's own booking, gone from Cal.com: handed back to the push.
    assert run.query(
        "select external_ref, sync_state::text from public.appointments where id = %s", ours
    ) == [(None, "pending")]

    # The admin sees the run with the hospital's counts; the front desk sees the flags.
    with run.rest(ADMIN) as rest:
        listed = rest.post(
            "/rpc/calendar_reconciliations", json={}, params={"id": f"eq.{first['id']}"}
        )
        assert listed.status_code == 200, listed.text
        assert [
            (r["hospital_id"], r["run_trigger"], {n: r[n] for n in COUNTS[:-1]}, r["skipped"])
            for r in listed.json()
        ] == [(HOSPITAL, "manual", {n: first[n] for n in COUNTS[:-1]}, None)]
    with run.rest(FRONT_DESK) as rest:
        flags = rest.get(
            "/calendar_sync_flags",
            params={"external_ref": f"eq.{done}", "kind": "eq.status_conflict"},
        ).json()
        assert [(f["details"]["remote_status"], f["details"]["local_status"]) for f in flags] == [
            ("cancelled", "completed")
        ]

    # A second run finds nothing to do, and raises no flag twice.
    before = mirror_state(run)
    second = cal.reconcile()
    assert counts(second) == {
        "checked": 16,  # the pushed one is no longer Cal.com's to look up; vanished still is
        "created": 0,
        "updated": 0,
        "cancelled": 0,
        "flagged": 0,
        "skipped": 0,
    }
    assert mirror_state(run) == before
    assert len(open_flags(run)) == 2

    # Cal.com re-sending the lost webhooks late changes nothing either.
    with cal.fake.lock:
        cal.fake.pending, cal.fake.dropped = cal.fake.dropped, []
    cal.deliver()
    assert mirror_state(run) == before


def test_a_completed_appointment_cancelled_in_cal_com_stays_completed_and_is_flagged(
    run: Run, cal: Cal
) -> None:
    seen = cal.book(1)
    cal.deliver()
    (appointment,) = (row[0] for row in appointments_of(run, seen))
    complete(run, appointment)
    cal.fake.dropping = True
    cal.fake.cancel_as_attendee(seen, "changed my mind")
    cal.fake.dropping = False

    first = cal.reconcile()
    assert (first["checked"], first["cancelled"], first["flagged"]) == (1, 0, 1)
    assert run.query(
        "select status::text, status_reason from public.appointments where id = %s", appointment
    ) == [("completed", None)]
    assert open_flags(run) == [("status_conflict", seen, appointment)]
    second = cal.reconcile()
    assert (second["checked"], second["flagged"]) == (1, 0)


def test_the_command_runs_one_reconciliation_and_prints_its_counts(run: Run, cal: Cal) -> None:
    cal.fake.dropping = True
    uid = cal.book(3)
    cal.fake.dropping = False
    command = [
        sys.executable,
        "-m",
        "devstack.cli",
        "reconcile",
        "cal",
        "--from",
        iso(run.at(-1)),
        "--to",
        iso(run.at(30)),
    ]
    env = {
        **os.environ,
        "CALCOM_API_KEY": cal.key,
        "CAREBASE_CALCOM_BASE_URL": cal.base_url,
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "checked 1  created 1  updated 0  cancelled 0  flagged 0  skipped 0" in done.stdout
    assert [row[1] for row in appointments_of(run, uid)] == ["scheduled"]


def test_the_worker_runs_the_nightly_window_once_a_night() -> None:
    reconciler = CalendarReconciler(
        SidecarSettings(calcom_reconcile_nightly_hour=21),
        None,
        None,  # type: ignore[arg-type]
    )
    night = datetime.fromisoformat("2041-03-04T21:05:00+00:00")
    assert reconciler.nightly_due(night, None)
    assert reconciler.nightly_due(night, night - timedelta(days=1))
    assert not reconciler.nightly_due(night + timedelta(minutes=15), night)
    assert not reconciler.nightly_due(night + timedelta(hours=3), night - timedelta(days=1))
    assert reconciler.nightly_due(night + timedelta(hours=3), night - timedelta(days=2)), (
        "a night missed (the worker was down) is made up at once"
    )


def test_the_worker_loop_records_a_periodic_run(run: Run, cal: Cal) -> None:
    settings = cal.settings()

    async def one_round() -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=30) as http:
            client = CalcomClient(settings.calcom_base_url, settings.calcom_api_key, http)
            reconciler = CalendarReconciler(settings, SupabaseApi(settings, http), client)
            original = reconciler.reconcile

            async def then_stop(trigger: str, start: datetime, end: datetime) -> dict[str, Any]:
                try:
                    return await original(trigger, start, end)
                finally:
                    stop.set()

            reconciler.reconcile = then_stop  # type: ignore[method-assign]
            await asyncio.wait_for(reconciler.run(stop), timeout=60)

    started = datetime.now(UTC)
    asyncio.run(one_round())
    # (A nightly run too when the test runs in the nightly hour.)
    rows = run.query(
        "delete from private.calendar_reconciliations where run_trigger <> 'manual'"
        " and started_at >= %s"
        " returning run_trigger, window_to - window_from, finished_at is not null, error",
        started,
    )
    periodic = [row[1:] for row in rows if row[0] == "periodic"]
    assert periodic == [(timedelta(days=31), True, None)], "the next 30 days, from a day back"
