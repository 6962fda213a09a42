"""The calls the scale bench measures, each as the user who makes it, and its service-role twin.

Who makes them is read from the generated data (`carebase seed generate`): the first hospital
(by code) and its staff logins `<role>1@<code>.carebase.test`, the patient with an app login
who has the most appointments there (and a prescription and a signed note), the doctor with
the most appointments in the week of the data's day. Tokens are issued directly with the
claims of the custom access token hook, staff at `aal2` (as after the TOTP step-up), as
bench/gateway_overhead.py does: signing in runs bcrypt, which is not what is measured here.

Each role-scoped list has a twin: the same rows fetched as service role with an explicit
filter; the ratio of the two is the cost of row-level security.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg

from devstack.config import Settings
from devstack.gateway.tokens import issue

SEARCH = "kaur"  # a name search that finds many (Kaur is the commonest surname of Punjab)
DEEP_OFFSET = 5000  # the front desk's deep page (smaller on data sets with fewer patients)
PAGE = 50
STAFF_ROLES = ("front_desk", "hospital_admin", "pharmacist")


@dataclass(frozen=True)
class Picks:
    """Who and what the calls are about, read from the data."""

    hospital_id: str
    hospital_code: str
    time_zone: str
    users: dict[str, str]  # role -> user id (front_desk, hospital_admin, pharmacist, ...)
    pharmacy_id: str
    week_doctor_id: str  # the doctor whose week is listed and whose slots are searched
    week_doctor_user: str
    week_start: date
    patient_id: str
    patient_user: str
    care_doctor_user: str  # on the patient's care team, the author of their note
    note_id: str | None
    prescription_ids: list[str]
    registered: int  # active registrations at the hospital
    deep_cursor: str  # registered_at of the registration that starts the deep page
    today: date


@dataclass(frozen=True)
class Call:
    name: str  # plans go to bench/plans/<size>/<name>.txt
    title: str
    actor: str
    token: str
    method: str
    path: str  # under /rest/v1, query string included
    body: str | None = None
    # list (judged by the budgets of role-scoped lists), scan (a request only a read of the
    # whole table can answer, measured to show why: offset pages, non-leakproof filters),
    # slots, booking, read
    kind: str = "list"
    service_path: str | None = None  # the service-role twin (lists)
    service_body: str | None = None
    bodies: list[str] = field(default_factory=list)  # booking: one body per request

    @property
    def service_twin(self) -> bool:
        return self.service_path is not None


def _one(conn: psycopg.Connection, query: str, params: dict | tuple = ()) -> tuple:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise SystemExit(f"the data has nothing for: {' '.join(query.split())[:160]}")
    return row


def pick(conn: psycopg.Connection, today: date) -> Picks:
    """Read the actors and subjects from the data (as postgres, row-level security aside)."""
    hospital_id, code, time_zone = _one(
        conn, "select id, code, time_zone from public.hospitals where is_active order by code"
    )
    users = {}
    for role in STAFF_ROLES:
        email = f"{role.replace('_', '-')}1@{code.lower()}.carebase.test"
        (users[role],) = _one(conn, "select id from auth.users where email = %s", (email,))
    (pharmacy_id,) = _one(
        conn,
        "select pharmacy_id from public.pharmacists where user_id = %s and is_active",
        (users["pharmacist"],),
    )
    zone = ZoneInfo(time_zone)
    week_start = today - timedelta(days=today.weekday())
    week_from = datetime.combine(week_start, datetime.min.time(), zone)
    week_doctor_id, week_doctor_user = _one(
        conn,
        "select d.id, d.user_id from public.doctors as d"
        " left join public.appointments as a on a.doctor_id = d.id"
        "  and a.starts_at >= %(f)s and a.starts_at < %(f)s + interval '7 days'"
        " where d.hospital_id = %(h)s and d.is_active"
        " group by d.id order by count(a.id) desc, d.id limit 1",
        {"f": week_from, "h": hospital_id},
    )
    # The patient: an app user registered here, with a prescription and a signed note, who
    # has the most appointments (a patient's list then has most to sort).
    patient_id, patient_user, note_id, care_doctor = _one(
        conn,
        """
        select p.id, p.user_id, n.id, n.author_id
        from public.patients as p
        join public.patient_registrations as r
            on r.patient_id = p.id and r.hospital_id = %(h)s and r.deleted_at is null
        join lateral (
            select n.id, n.author_id from public.clinical_notes as n
            join public.care_team_members as c
                on c.patient_id = n.patient_id and c.hospital_id = n.hospital_id
                and c.member_id = n.author_id and c.member_role = 'doctor' and c.ended_at is null
            where n.patient_id = p.id and n.hospital_id = %(h)s and n.status = 'signed'
                and n.deleted_at is null
            order by n.signed_at desc, n.id limit 1
        ) as n on true
        where p.user_id is not null and p.deleted_at is null
            and exists (
                select from public.prescriptions as x
                where x.patient_id = p.id and x.hospital_id = %(h)s
            )
        order by (select count(*) from public.appointments as a where a.patient_id = p.id) desc,
            p.id
        limit 1
        """,
        {"h": hospital_id},
    )
    prescription_ids = [
        str(row[0])
        for row in conn.execute(
            "select id from public.prescriptions where patient_id = %s"
            " order by issued_at desc, id limit 10",
            (patient_id,),
        )
    ]
    (registered,) = _one(
        conn,
        "select count(*) from public.patient_registrations as r"
        " join public.patients as p on p.id = r.patient_id"
        " where r.hospital_id = %s and r.deleted_at is null and p.deleted_at is null",
        (hospital_id,),
    )
    (deep_cursor,) = _one(
        conn,
        "select registered_at from public.patient_registrations"
        " where hospital_id = %s and deleted_at is null"
        " order by registered_at desc offset %s limit 1",
        (hospital_id, min(DEEP_OFFSET, registered // 2)),
    )
    return Picks(
        hospital_id=str(hospital_id),
        hospital_code=code,
        time_zone=time_zone,
        users={role: str(user) for role, user in users.items()},
        pharmacy_id=str(pharmacy_id),
        week_doctor_id=str(week_doctor_id),
        week_doctor_user=str(week_doctor_user),
        week_start=week_start,
        patient_id=str(patient_id),
        patient_user=str(patient_user),
        care_doctor_user=str(care_doctor),
        note_id=str(note_id) if note_id else None,
        prescription_ids=prescription_ids,
        registered=registered,
        deep_cursor=deep_cursor.isoformat(),
        today=today,
    )


def claims(conn: psycopg.Connection, user_id: str, aal: str) -> dict:
    """The claims Supabase Auth would put in the user's access token (the hook's)."""
    now = int(time.time())
    base = {
        "sub": user_id,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 4 * 3600,
        "aal": aal,
        "amr": [{"method": "totp" if aal == "aal2" else "password", "timestamp": now}],
        "session_id": user_id,  # any stable value: the gateway does not look it up
    }
    (answer,) = _one(
        conn,
        "select private.custom_access_token_hook(jsonb_build_object('user_id', %s::text,"
        " 'authentication_method', 'password', 'claims', %s::jsonb))",
        (user_id, json.dumps(base)),
    )
    return answer["claims"]


def _q(value: object) -> str:
    """A query-string value, PostgREST's operator characters left readable."""
    return quote(str(value), safe=".,()*:-_")


def _local(day: date, zone: str) -> str:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).isoformat()


def build(conn: psycopg.Connection, settings: Settings, picks: Picks) -> list[Call]:
    """Every call, in the order they are measured (the booking last: it writes)."""

    def token(user: str, aal: str = "aal2") -> str:
        return issue(claims(conn, user, aal), settings.jwt_secret)

    patient = token(picks.patient_user, "aal1")
    front_desk = token(picks.users["front_desk"])
    pharmacist = token(picks.users["pharmacist"])
    admin = token(picks.users["hospital_admin"])
    doctor = token(picks.care_doctor_user)
    week_to = picks.week_start + timedelta(days=7)
    offset = min(DEEP_OFFSET, max(0, picks.registered // 2 // PAGE * PAGE))
    at_hospital = (
        f"select=*,patient_registrations!inner()&deleted_at=is.null"
        f"&patient_registrations.hospital_id=eq.{picks.hospital_id}"
        "&patient_registrations.deleted_at=is.null"
    )
    keyset_page = (
        "select=mrn,registered_at,patients(id,full_name,phone,date_of_birth,sex)"
        f"&hospital_id=eq.{picks.hospital_id}&deleted_at=is.null"
        f"&registered_at=lt.{_q(picks.deep_cursor)}&order=registered_at.desc&limit={PAGE}"
    )
    pharmacy_queue = (
        f"/prescription_details?status=eq.pending&pharmacy_id=eq.{picks.pharmacy_id}"
        f"&order=issued_at,id&limit={PAGE}"
    )
    duplicate_queue = (
        "/patient_duplicate_pairs?select=id,patient_id,other_patient_id,score,parts,detected_at"
        f"&hospital_id=eq.{picks.hospital_id}&status=eq.open&order=score.desc,id&limit={PAGE}"
    )
    week = (
        f"starts_at=gte.{_q(_local(picks.week_start, picks.time_zone))}"
        f"&starts_at=lt.{_q(_local(week_to, picks.time_zone))}"
    )
    slots_from = max(picks.today, datetime.now(ZoneInfo(picks.time_zone)).date()) + timedelta(1)
    slots = json.dumps(
        {
            "doctor_id": picks.week_doctor_id,
            "from_time": _local(slots_from, picks.time_zone),
            "to_time": _local(slots_from + timedelta(days=7), picks.time_zone),
        }
    )
    stats = json.dumps(
        {
            "hospital_id": picks.hospital_id,
            "start_date": (picks.today - timedelta(days=30)).isoformat(),
            "end_date": picks.today.isoformat(),
        }
    )
    calls = [
        Call(
            "patient_appointments",
            "a patient lists their own appointments",
            "patient",
            patient,
            "GET",
            f"/appointments?order=starts_at.desc&limit={PAGE}",
            service_path=(
                f"/appointments?patient_id=eq.{picks.patient_id}&order=starts_at.desc&limit={PAGE}"
            ),
        ),
        Call(
            "doctor_week",
            "a doctor's week",
            "doctor",
            token(picks.week_doctor_user),
            "GET",
            f"/appointments?doctor_id=eq.{picks.week_doctor_id}&{week}&order=starts_at",
            service_path=(
                f"/appointments?doctor_id=eq.{picks.week_doctor_id}&{week}&order=starts_at"
                f"&hospital_id=eq.{picks.hospital_id}"
            ),
        ),
        Call(
            "front_desk_patient_page",
            f"front desk, a deep page of the patient list (offset {offset})",
            "front desk",
            front_desk,
            "GET",
            f"/patients?order=full_name,id&offset={offset}&limit={PAGE}",
            kind="scan",
            service_path=f"/patients?{at_hospital}&order=full_name,id&offset={offset}&limit={PAGE}",
        ),
        Call(
            "front_desk_patient_keyset",
            "front desk, the same deep page by keyset: the hospital's registrations before a date",
            "front desk",
            front_desk,
            "GET",
            f"/patient_registrations?{keyset_page}",
            service_path=f"/patient_registrations?{keyset_page}",
        ),
        Call(
            "front_desk_name_search",
            f"front desk, a name filter through REST (`ilike *{SEARCH}*`)",
            "front desk",
            front_desk,
            "GET",
            f"/patients?full_name=ilike.*{SEARCH}*&order=full_name,id&limit={PAGE}",
            kind="scan",
            service_path=(
                f"/patients?{at_hospital}&full_name=ilike.*{SEARCH}*&order=full_name,id"
                f"&limit={PAGE}"
            ),
        ),
        Call(
            "front_desk_search",
            f"front desk, patient search (`rpc/search_patients` {SEARCH!r})",
            "front desk",
            front_desk,
            "POST",
            "/rpc/search_patients",
            json.dumps({"query": SEARCH, "max_results": PAGE}),
        ),
        Call(
            "front_desk_duplicates",
            "front desk, a patient's possible duplicates (`rpc/patient_duplicates`)",
            "front desk",
            front_desk,
            "POST",
            "/rpc/patient_duplicates",
            json.dumps({"patient_id": picks.patient_id}),
        ),
        Call(
            "front_desk_duplicate_queue",
            "front desk, the duplicate review queue (open pairs, best first)",
            "front desk",
            front_desk,
            "GET",
            duplicate_queue,
            service_path=duplicate_queue,
        ),
        Call(
            "pharmacist_queue",
            "pharmacist's queue (prescriptions waiting for review at their pharmacy)",
            "pharmacist",
            pharmacist,
            "GET",
            # The app names its pharmacy: `uuid =` is leakproof, so Postgres may read the queue's
            # index in order before the policy and stop after a page (README, "Lists stay fast").
            pharmacy_queue,
            service_path=pharmacy_queue,
        ),
        Call(
            "admin_appointment_stats",
            "`rpc/appointment_stats` for a month, admin",
            "hospital admin",
            admin,
            "POST",
            "/rpc/appointment_stats",
            stats,
            kind="read",
            service_path="/rpc/appointment_stats",
            service_body=stats,
        ),
        Call(
            "find_slots_week",
            "`rpc/find_slots` for one doctor, one week",
            "patient",
            patient,
            "POST",
            "/rpc/find_slots",
            slots,
            kind="slots",
            service_path="/rpc/find_slots",
            service_body=slots,
        ),
        Call(
            "patient_timeline",
            "a care-team doctor reads a patient's timeline (`rpc/patient_timeline`, logged)",
            "doctor",
            doctor,
            "POST",
            "/rpc/patient_timeline",
            json.dumps({"patient_id": picks.patient_id}),
            kind="read",
        ),
        Call(
            "read_prescriptions",
            "a patient reads their prescriptions (`rpc/read_prescriptions`, decrypted, logged)",
            "patient",
            patient,
            "POST",
            "/rpc/read_prescriptions",
            json.dumps({"prescription_ids": picks.prescription_ids}),
            kind="read",
        ),
        Call(
            "audit_trail",
            "the admin's audit trail, newest first",
            "hospital admin",
            admin,
            "GET",
            f"/audit_trail?order=seq.desc&limit={PAGE}",
            kind="read",
        ),
    ]
    if picks.note_id:
        calls.insert(
            -1,
            Call(
                "clinical_note",
                "the care team reads a signed note (`rpc/clinical_note`, decrypted, logged)",
                "doctor",
                doctor,
                "POST",
                "/rpc/clinical_note",
                json.dumps({"note_id": picks.note_id}),
                kind="read",
            ),
        )
    calls.append(
        Call(
            "book_appointment",
            "`rpc/book_appointment`, concurrency 8, distinct free slots",
            "front desk",
            front_desk,
            "POST",
            "/rpc/book_appointment",
            kind="booking",
        )
    )
    return calls


# The free slots the bookings take: after every appointment in the data (and every earlier
# run's bookings), so none clashes with a doctor's or a patient's appointment by construction;
# in the doctors' working hours, as private.availability_windows gives them to the front desk.
_SLOTS = """
with horizon as (
    select greatest(now(), max(m.latest)) + interval '1 day' as t
    from public.hospitals as h
    cross join lateral (
        select max(a.ends_at) as latest from public.appointments as a where a.hospital_id = h.id
    ) as m
)
select w.doctor_id, s, s + make_interval(mins => w.slot_minutes)
from horizon
cross join lateral private.availability_windows(
    array(select d.id from public.doctors as d where d.hospital_id = %(h)s and d.is_active),
    horizon.t + make_interval(days => 31 * %(window)s),
    horizon.t + make_interval(days => 31 * (%(window)s + 1))
) as w
cross join lateral generate_series(
    lower(w.span), upper(w.span) - make_interval(mins => w.slot_minutes),
    make_interval(mins => w.slot_minutes)
) as s
order by s, w.doctor_id
"""


def booking_bodies(conn: psycopg.Connection, picks: Picks, front_desk: dict, count: int) -> list:
    """`count` bookings of distinct free slots at the hospital, each for a patient registered
    there who has nothing else at that time."""
    patients = [
        str(row[0])
        for row in conn.execute(
            "select r.patient_id from public.patient_registrations as r"
            " join public.patients as p on p.id = r.patient_id"
            " where r.hospital_id = %s and r.deleted_at is null and p.deleted_at is null"
            " order by r.patient_id limit 20000",
            (picks.hospital_id,),
        )
    ]
    bodies: list[str] = []
    doctor_free: dict[str, datetime] = {}  # a doctor's slots of windows that overlap: skipped
    patient_free: dict[str, datetime] = {}
    turn = 0
    with conn.transaction():
        # availability_windows shows the schedules the caller may see: the front desk's.
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(front_desk),))
        for window in range(12):
            found = conn.execute(_SLOTS, {"h": picks.hospital_id, "window": window})
            for doctor, starts, ends in found:
                doctor = str(doctor)
                if doctor_free.get(doctor, starts) > starts:
                    continue
                for _ in range(len(patients)):
                    patient = patients[turn % len(patients)]
                    turn += 1
                    if patient_free.get(patient, starts) <= starts:
                        break
                else:
                    continue
                doctor_free[doctor] = patient_free[patient] = ends
                bodies.append(
                    json.dumps(
                        {
                            "doctor_id": doctor,
                            "patient_id": patient,
                            "starts_at": starts.isoformat(),
                            "ends_at": ends.isoformat(),
                            "source": "front_desk",
                            "reason": "bench",
                        }
                    )
                )
                if len(bodies) >= count:
                    return bodies
    return bodies
