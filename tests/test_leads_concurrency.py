"""The front office under concurrency (issue 17): what one connection cannot show.

- Four leads sent to the CRO queue at the same instant, with three CROs: each of three goes to a
  different CRO (for update skip locked: no CRO twice, nobody waits), the fourth stays
  unassigned and visible, and the next drain gives it to the CRO first in turn.
- Six conversions at once: the five that succeed hold the hospital's MRNs 1 to 5, the refused one
  took no number (gapless per hospital and year).
- Two leads racing for the doctor's last free slot today: one is booked, the other is entered
  without a booking, and neither sees an error.

Each test acts through its own connections as the front desk (role and claims as PostgREST sets
them) at a hospital made for the module, removed afterwards.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from devstack.config import Settings

TIMEOUT = 20


@dataclass(frozen=True)
class Clinic:
    dsn: str
    hospital: uuid.UUID
    code: str
    front_desk: uuid.UUID
    cros: list[uuid.UUID]
    doctor: uuid.UUID


def _user(conn: psycopg.Connection, name: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, raw_user_meta_data)"
        " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated',"
        " 'authenticated', %s, %s)",
        (
            user_id,
            f"{name}.{user_id.hex[:8]}@leads-concurrency.test",
            json.dumps({"full_name": name}),
        ),
    )
    return user_id


@pytest.fixture(scope="module")
def clinic(stack: Settings) -> Iterator[Clinic]:
    code = "LC" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6))
    dsn = stack.dsn()
    users: list[uuid.UUID] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Morning in the hospital's time zone, so that today has slots left whenever this runs.
        (hospital,) = conn.execute(
            "insert into public.hospitals (code, name, time_zone)"
            " select %s, 'Leads Concurrency Clinic', z.name from pg_timezone_names as z"
            " where extract(hour from now() at time zone z.name) between 6 and 11"
            " and z.name like '%%/%%' and z.name not like 'posix/%%' and z.name not like 'right/%%'"
            " order by z.name limit 1 returning id",
            (code,),
        ).fetchone()
        front_desk = _user(conn, "front_desk")
        cros = [_user(conn, f"cro{n}") for n in range(3)]
        doctor_user = _user(conn, "doctor")
        users += [front_desk, *cros, doctor_user]
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role)"
            " select u, %s, r::public.app_role from unnest(%s::uuid[], %s::text[]) as m (u, r)",
            (hospital, users, ["front_desk", "cro", "cro", "cro", "doctor"]),
        )
        (doctor,) = conn.execute(
            "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
            " values (%s, %s, 'Reproductive Medicine', %s) returning id",
            (doctor_user, hospital, f"{code}-1"),
        ).fetchone()
    yield Clinic(dsn, hospital, code, front_desk, sorted(cros), doctor)
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        patients = [
            row[0]
            for row in conn.execute(
                "select patient_id from public.patient_registrations where hospital_id = %s",
                (hospital,),
            )
        ]
        tables = conn.execute(
            "select format('%I.%I', c.relnamespace::regnamespace::text, c.relname)"
            " from pg_class as c join pg_attribute as a on a.attrelid = c.oid"
            " where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace)"
            " and c.relkind = 'r' and a.attname = 'hospital_id' and not a.attisdropped"
            " and c.relname <> 'hospitals'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"delete from {table} where hospital_id = %s", (hospital,))  # noqa: S608
        conn.execute("delete from private.mrn_counters where hospital_id = %s", (hospital,))
        conn.execute("delete from public.patients where id = any(%s)", (patients,))
        conn.execute("delete from public.hospitals where id = %s", (hospital,))
        # Replica mode fires no cascade: each person's rows go by hand.
        conn.execute("delete from public.profiles where id = any(%s)", (users,))
        conn.execute("delete from auth.users where id = any(%s)", (users,))


def _act_as(conn: psycopg.Connection, user: uuid.UUID) -> None:
    """As PostgREST starts a request: transaction-local role and claims."""
    claims = json.dumps({"sub": str(user), "role": "authenticated", "aal": "aal2"})
    conn.execute(
        "select set_config('role', 'authenticated', true),"
        " set_config('request.jwt.claims', %s, true)",
        (claims,),
    )


def _lead(clinic: Clinic, name: str, **options: Any) -> uuid.UUID:
    phone = f"+9197{secrets.randbelow(10**8):08d}"
    with psycopg.connect(clinic.dsn) as conn:
        _act_as(conn, clinic.front_desk)
        (made,) = conn.execute(
            "select public.create_lead(%s, %s, %s, preferred_doctor_id => %s, book_today => %s)",
            (clinic.hospital, name, phone, options.get("doctor"), options.get("book", False)),
        ).fetchone()
    return uuid.UUID(made["lead"]["id"])


def _in_parallel(work: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(work, item) for item in items]
        return [future.result(timeout=TIMEOUT) for future in futures]


def test_concurrent_assignments_give_each_cro_one_lead_in_turn(clinic: Clinic) -> None:
    leads = [_lead(clinic, f"Queue {n}") for n in range(4)]
    start = threading.Barrier(len(leads))
    hold = threading.Barrier(len(leads))

    def send_to_cro(lead: uuid.UUID) -> uuid.UUID | None:
        with psycopg.connect(clinic.dsn) as conn:
            conn.execute("set lock_timeout = '5s'")
            _act_as(conn, clinic.front_desk)
            start.wait(timeout=TIMEOUT)
            conn.execute(
                "update public.leads set status = 'stalling_sent_to_cro' where id = %s", (lead,)
            )
            (holder,) = conn.execute(
                "select assigned_to from public.leads where id = %s", (lead,)
            ).fetchone()
            # Every assignment is made while the others still hold their locks.
            hold.wait(timeout=TIMEOUT)
            conn.commit()
            return holder

    holders = _in_parallel(send_to_cro, leads)
    given = [h for h in holders if h is not None]
    assert sorted(given) == clinic.cros, "three leads, one to each CRO"
    assert holders.count(None) == 1, "the fourth waits, unassigned"
    waiting = leads[holders.index(None)]
    with psycopg.connect(clinic.dsn) as conn:
        (first_in_turn,) = conn.execute(
            "select user_id from public.cro_rotation where hospital_id = %s"
            " order by last_turn, user_id limit 1",
            (clinic.hospital,),
        ).fetchone()
        (queued,) = conn.execute(
            "select count(*) from public.leads where id = %s and assigned_to is null"
            " and status = 'stalling_sent_to_cro'",
            (waiting,),
        ).fetchone()
        assert queued == 1, "visible in the queue, never lost"
        _act_as(conn, clinic.front_desk)
        (drained,) = conn.execute("select public.assign_leads(%s)", (clinic.hospital,)).fetchone()
        conn.commit()
        counts = conn.execute(
            "select assigned_today from public.cro_rotation where hospital_id = %s",
            (clinic.hospital,),
        ).fetchall()
    assert drained == {
        "assigned": [{"lead_id": str(waiting), "assigned_to": str(first_in_turn)}],
        "waiting": 0,
    }, "the drain gives it to the CRO first in turn"
    assert sorted(n for (n,) in counts) == [1, 1, 2]


def test_concurrent_conversions_draw_gapless_mrns(clinic: Clinic) -> None:
    leads = [_lead(clinic, f"Convert {n}") for n in range(6)]
    refused = leads[-1]
    with psycopg.connect(clinic.dsn) as conn:
        _act_as(conn, clinic.front_desk)
        conn.execute(
            "update public.leads set status = 'stalling_sent_to_cro' where id = %s", (refused,)
        )
        conn.commit()
    start = threading.Barrier(len(leads))

    def convert(lead: uuid.UUID) -> str:
        with psycopg.connect(clinic.dsn) as conn:
            conn.execute("set lock_timeout = '10s'")
            _act_as(conn, clinic.front_desk)
            start.wait(timeout=TIMEOUT)
            try:
                (answer,) = conn.execute(
                    "select public.convert_lead(%s, create_new => true)", (lead,)
                ).fetchone()
                conn.commit()
                return answer["mrn"]
            except psycopg.Error as error:
                conn.rollback()
                return error.sqlstate or "error"

    outcomes = _in_parallel(convert, leads)
    year = datetime.now(UTC).year
    assert outcomes[-1] == "42501", "the front desk may not convert a lead in the CRO queue"
    assert sorted(outcomes[:-1]) == [f"{clinic.code}-{year}-{n:06d}" for n in range(1, 6)]
    with psycopg.connect(clinic.dsn) as conn:
        (last,) = conn.execute(
            "select last_value from private.mrn_counters where hospital_id = %s and year = %s",
            (clinic.hospital, year),
        ).fetchone()
        (orphans,) = conn.execute(
            "select count(*) from public.patients where full_name = 'Convert 5'"
        ).fetchone()
    assert last == 5, "the refused conversion drew no number"
    assert orphans == 0, "and left no patient"


def test_two_leads_racing_for_the_last_slot_today_one_booked_no_error(clinic: Clinic) -> None:
    with psycopg.connect(clinic.dsn, autocommit=True) as conn:
        conn.execute(
            "insert into public.doctor_working_hours"
            " (doctor_id, hospital_id, weekday, starts_at, ends_at, slot_minutes)"
            " select %s, %s, d, '00:00', '24:00', 30 from generate_series(1, 7) as d",
            (clinic.doctor, clinic.hospital),
        )
        (last_slot,) = conn.execute(
            "insert into public.doctor_availability_exceptions"
            " (doctor_id, hospital_id, kind, starts_at, ends_at)"
            " select %s, h.id, 'time_off', now() - interval '1 hour',"
            " ((now() at time zone h.time_zone)::date + time '23:30') at time zone h.time_zone"
            " from public.hospitals as h where h.id = %s returning ends_at",
            (clinic.doctor, clinic.hospital),
        ).fetchone()

    def create(conn: psycopg.Connection, name: str) -> dict[str, Any]:
        _act_as(conn, clinic.front_desk)
        (answer,) = conn.execute(
            "select public.create_lead(%s, %s, %s, preferred_doctor_id => %s)",
            (clinic.hospital, name, f"+9198{secrets.randbelow(10**8):08d}", clinic.doctor),
        ).fetchone()
        return answer

    with psycopg.connect(clinic.dsn) as first, psycopg.connect(clinic.dsn) as second:
        second.execute("set lock_timeout = '15s'")
        (second_pid,) = second.execute("select pg_backend_pid()").fetchone()
        second.commit()
        won = create(first, "First Caller")  # booked, not yet committed
        with ThreadPoolExecutor(max_workers=1) as pool:
            racing = pool.submit(lambda: (create(second, "Second Caller"), second.commit())[0])
            # The second waits for the first's booking of the doctor; then the first commits.
            deadline = time.monotonic() + TIMEOUT
            with psycopg.connect(clinic.dsn, autocommit=True) as watcher:
                while time.monotonic() < deadline:
                    (waiting,) = watcher.execute(
                        "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s",
                        (second_pid,),
                    ).fetchone()
                    if waiting:
                        break
                    time.sleep(0.02)
            assert waiting, "the second booking waited for the first"
            first.commit()
            lost = racing.result(timeout=TIMEOUT)
    assert won["booking"] == "booked"
    assert datetime.fromisoformat(won["appointment"]["starts_at"]) == last_slot
    assert (lost["booking"], lost["appointment"], lost["merged"]) == (
        "no_free_slot_today",
        None,
        False,
    ), "the other lead is entered without a booking, not refused"
    with psycopg.connect(clinic.dsn) as conn:
        booked = conn.execute(
            "select lead_id::text from public.appointments where doctor_id = %s"
            " and status = 'scheduled'",
            (clinic.doctor,),
        ).fetchall()
        (entered,) = conn.execute(
            "select count(*) from public.leads where id = %s", (lost["lead"]["id"],)
        ).fetchone()
    assert booked == [(won["lead"]["id"],)]
    assert entered == 1
