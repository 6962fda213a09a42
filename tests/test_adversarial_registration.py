"""Issue 10, findings 1 to 3, attacked over HTTP by the demo hospital's own staff.

Hospital A is the demo hospital (Nabha); hospital B is made here, with a patient known only
to B, a doctor, an identifier and a signed note. The attackers hold ordinary accounts of A
and try what the adversarial review did: register B's patient by id, then read, reveal and
re-route them; book themselves into B's care team; keep using a closed hospital's record.
Everything made here is removed afterwards (clinical rows by the superuser in replica mode,
as no role may delete them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.postgrest_session import PostgrestSession

A_HOSPITAL = "10000000-0000-4000-8000-000000000001"
A_FRONT_DESK = "frontdesk@nabha.carebase.test"
A_ADMIN = "admin@nabha.carebase.test"
A_DOCTOR = "dr.sandhu@nabha.carebase.test"


@dataclass(frozen=True)
class HospitalB:
    hospital: str
    doctor_user: str
    patient: str
    patient_user: str
    shared_patient: str
    identifier: str
    note: str
    sandhu_doctor_profile: str


def token(stack: Settings, email_or_id: str, aal: str = "aal2") -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(email_or_id, aal)
    return {"apikey": stack.anon_key, "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}"}


def make_user(conn: psycopg.Connection, email: str | None, phone: str | None = None) -> str:
    (user_id,) = conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, phone, email_confirmed_at,"
        " raw_app_meta_data, raw_user_meta_data, created_at, updated_at)"
        " values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',"
        " 'authenticated', %s, %s, now(), '{}', '{}', now(), now()) returning id",
        (email, phone),
    ).fetchone()
    return str(user_id)


@pytest.fixture(scope="module")
def hospital_b(stack: Settings) -> Iterator[HospitalB]:
    tag = uuid.uuid4().hex[:6]
    made_users: list[str] = []
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        (hospital,) = conn.execute(
            "insert into public.hospitals (code, name, city, state)"
            " values (%s, 'Adversary B', 'Sangrur', 'Punjab') returning id",
            (f"B{tag[:4].upper()}",),
        ).fetchone()
        hospital = str(hospital)
        doctor_user = make_user(conn, f"b-doctor-{tag}@adversary.test")
        patient_user = make_user(conn, None, f"9198{int(tag, 16) % 10**8:08d}")
        made_users += [doctor_user, patient_user]
        (sandhu,) = conn.execute(
            "select id from auth.users where email = %s", (A_DOCTOR,)
        ).fetchone()
        conn.execute(
            "insert into public.staff_memberships (user_id, hospital_id, role)"
            " values (%s, %s, 'doctor'), (%s, %s, 'doctor')",
            (doctor_user, hospital, sandhu, hospital),
        )
        conn.execute(
            "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
            " values (%s, %s, 'General Medicine', %s)",
            (doctor_user, hospital, f"PMC-B-{tag}"),
        )
        (sandhu_at_b,) = conn.execute(
            "insert into public.doctors (user_id, hospital_id, specialty, licence_number)"
            " values (%s, %s, 'General Medicine', %s) returning id",
            (sandhu, hospital, f"PMC-S-{tag}"),
        ).fetchone()
        (patient,) = conn.execute(
            "insert into public.patients (user_id, full_name, phone)"
            " values (%s, 'Only At B', %s) returning id",
            (patient_user, f"+9198{int(tag, 16) % 10**8:08d}"),
        ).fetchone()
        (shared,) = conn.execute(
            "insert into public.patients (full_name, phone)"
            " values ('At A And B', '+919700000077') returning id"
        ).fetchone()
        conn.execute(
            "insert into public.patient_registrations (patient_id, hospital_id, mrn)"
            " values (%s, %s, %s), (%s, %s, %s), (%s, %s, %s)",
            (
                patient,
                hospital,
                f"B-{tag}-1",
                shared,
                hospital,
                f"B-{tag}-2",
                shared,
                A_HOSPITAL,
                f"A-{tag}-2",
            ),
        )
        conn.execute(
            "insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)"
            " values (%s, %s, %s, 'doctor'), (%s, %s, %s, 'doctor')",
            (patient, hospital, doctor_user, shared, A_HOSPITAL, sandhu),
        )
        (identifier,) = conn.execute(
            "insert into public.patient_identifiers (patient_id, kind, value_encrypted,"
            " blind_index, last4, recorded_at_hospital_id)"
            " values (%s, 'aadhaar', private.encrypt_field('234567890123'),"
            " private.blind_index('aadhaar', '234567890123'), '0123', %s) returning id",
            (patient, hospital),
        ).fetchone()
        (note,) = conn.execute(
            "insert into public.clinical_notes (patient_id, hospital_id, author_id, soap_encrypted)"
            " values (%s, %s, %s, private.encrypt_field(%s)) returning id",
            (patient, hospital, doctor_user, '{"assessment": "B only"}'),
        ).fetchone()
        conn.execute("update public.clinical_notes set status = 'signed' where id = %s", (note,))
    yield HospitalB(
        hospital,
        doctor_user,
        str(patient),
        patient_user,
        str(shared),
        str(identifier),
        str(note),
        str(sandhu_at_b),
    )
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        for table in (
            "clinical_notes",
            "clinical_note_addenda",
            "appointments",
            "care_team_members",
            "patient_registrations",
            "doctors",
            "staff_memberships",
        ):
            conn.execute(f"delete from public.{table} where hospital_id = %s", (hospital,))  # noqa: S608
        conn.execute(
            "delete from public.appointments where patient_id = any(%s)", ([patient, shared],)
        )
        conn.execute(
            "delete from public.care_team_members where patient_id = any(%s)", ([patient, shared],)
        )
        conn.execute(
            "delete from public.patient_registrations where patient_id = any(%s)",
            ([patient, shared],),
        )
        conn.execute(
            "delete from public.patient_identifiers where patient_id = any(%s)",
            ([patient, shared],),
        )
        conn.execute(
            "delete from private.registration_codes where patient_id = any(%s)",
            ([patient, shared],),
        )
        conn.execute("delete from public.patients where id = any(%s)", ([patient, shared],))
        conn.execute("delete from public.hospitals where id = %s", (hospital,))
        conn.execute("delete from auth.users where id = any(%s::uuid[])", (made_users,))


def rest(gateway: str) -> httpx.Client:
    return httpx.Client(base_url=f"{gateway}/rest/v1", timeout=10)


def test_front_desk_cannot_register_another_hospitals_patient_by_id(
    stack: Settings, gateway: str, hospital_b: HospitalB
) -> None:
    desk = token(stack, A_FRONT_DESK)
    with rest(gateway) as api:
        response = api.post(
            "/patient_registrations",
            json={"patient_id": hospital_b.patient, "hospital_id": A_HOSPITAL},
            headers=desk,
        )
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "42501"
        assert (
            api.get("/patients", params={"id": f"eq.{hospital_b.patient}"}, headers=desk).json()
            == []
        )
        revealed = api.post(
            "/rpc/reveal_patient_identifier",
            json={"identifier_id": hospital_b.identifier},
            headers=desk,
        )
        assert revealed.status_code == 403, revealed.text
        changed = api.patch(
            "/patients",
            params={"id": f"eq.{hospital_b.patient}"},
            json={"phone": "+919999999999"},
            headers=desk,
        )
        assert changed.status_code in (204, 404), changed.text
    with psycopg.connect(stack.dsn()) as conn:
        registered = conn.execute(
            "select count(*) from public.patient_registrations"
            " where patient_id = %s and hospital_id = %s",
            (hospital_b.patient, A_HOSPITAL),
        ).fetchone()[0]
        phone = conn.execute(
            "select phone from public.patients where id = %s", (hospital_b.patient,)
        ).fetchone()[0]
    assert registered == 0
    assert phone != "+919999999999"


def test_with_the_patients_code_the_registration_opens_nothing_of_the_other_hospital(
    stack: Settings, gateway: str, hospital_b: HospitalB
) -> None:
    with rest(gateway) as api:
        issued = api.post(
            "/rpc/issue_registration_code", json={}, headers=token(stack, hospital_b.patient_user)
        )
        assert issued.status_code == 200, issued.text
        desk = token(stack, A_FRONT_DESK)
        registered = api.post(
            "/rpc/register_existing_patient",
            json={"hospital_id": A_HOSPITAL, "code": issued.json()["code"]},
            headers=desk,
        )
        assert registered.status_code == 200, registered.text
        assert registered.json()["patient_id"] == hospital_b.patient
        again = api.post(
            "/rpc/register_existing_patient",
            json={"hospital_id": A_HOSPITAL, "code": issued.json()["code"]},
            headers=desk,
        )
        assert again.status_code == 404, again.text

        # A now sees the person, but not B's identifier, not B's audit entries, and cannot
        # move the sign-in phone away from the home hospital.
        assert [
            p["id"]
            for p in api.get(
                "/patients", params={"id": f"eq.{hospital_b.patient}"}, headers=desk
            ).json()
        ]
        assert (
            api.get(
                "/patient_identifiers",
                params={"patient_id": f"eq.{hospital_b.patient}", "select": "id,masked"},
                headers=desk,
            ).json()
            == []
        )
        revealed = api.post(
            "/rpc/reveal_patient_identifier",
            json={"identifier_id": hospital_b.identifier},
            headers=desk,
        )
        assert revealed.status_code == 403, revealed.text
        moved = api.patch(
            "/patients",
            params={"id": f"eq.{hospital_b.patient}"},
            json={"phone": "+919999999998"},
            headers=desk,
        )
        assert moved.status_code == 403, moved.text
        trail = api.get(
            "/audit_trail",
            params={"patient_id": f"eq.{hospital_b.patient}", "select": "hospital_id"},
            headers=token(stack, A_ADMIN),
        )
        assert trail.status_code == 200, trail.text
        assert hospital_b.hospital not in {row["hospital_id"] for row in trail.json()}


def test_a_doctor_of_two_hospitals_cannot_book_into_the_other_care_team(
    stack: Settings, gateway: str, hospital_b: HospitalB
) -> None:
    doctor = token(stack, A_DOCTOR)
    with rest(gateway) as api:
        booked = api.post(
            "/appointments",
            json={
                "hospital_id": hospital_b.hospital,
                "doctor_id": hospital_b.sandhu_doctor_profile,
                "patient_id": hospital_b.shared_patient,
                "starts_at": "2041-03-04T10:00:00Z",
                "ends_at": "2041-03-04T10:20:00Z",
            },
            headers=doctor,
        )
        assert booked.status_code == 403, booked.text
        timeline = api.post(
            "/rpc/patient_timeline", json={"patient_id": hospital_b.shared_patient}, headers=doctor
        )
        assert timeline.status_code == 200, timeline.text
        assert hospital_b.hospital not in {item["hospital_id"] for item in timeline.json()}


def test_a_closed_hospitals_care_team_loses_the_record(
    stack: Settings, gateway: str, hospital_b: HospitalB
) -> None:
    doctor = token(stack, hospital_b.doctor_user)
    with rest(gateway) as api:
        assert (
            api.post(
                "/rpc/clinical_note", json={"note_id": hospital_b.note}, headers=doctor
            ).status_code
            == 200
        )
        with psycopg.connect(stack.dsn(), autocommit=True) as conn:
            conn.execute(
                "update public.hospitals set is_active = false where id = %s",
                (hospital_b.hospital,),
            )
        try:
            read = api.post("/rpc/clinical_note", json={"note_id": hospital_b.note}, headers=doctor)
            assert read.status_code == 404, read.text
            written = api.post(
                "/rpc/write_clinical_note",
                json={
                    "patient_id": hospital_b.patient,
                    "hospital_id": hospital_b.hospital,
                    "soap": {"plan": "x"},
                },
                headers=doctor,
            )
            assert written.status_code == 403, written.text
            timeline = api.post(
                "/rpc/patient_timeline", json={"patient_id": hospital_b.patient}, headers=doctor
            )
            assert [item for item in timeline.json() if item["kind"] == "clinical_note"] == []
        finally:
            with psycopg.connect(stack.dsn(), autocommit=True) as conn:
                conn.execute(
                    "update public.hospitals set is_active = true where id = %s",
                    (hospital_b.hospital,),
                )
