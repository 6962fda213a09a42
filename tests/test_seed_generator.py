"""The synthetic data generator (seed/): `tiny` loaded into migrated scratch databases passes
the consistency check, is the same for the same seed, and looks like the data it stands for."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from devstack import cli
from devstack.config import Settings
from devstack.migrate import scratch_database
from seed import check, load
from seed.sizes import SIZES
from seed.world import STAFF_PASSWORD, World

TODAY = date(2026, 12, 2)
# What identifies a loaded data set, leaving out what is random by design: ciphertexts
# (pgp_sym_encrypt salts each value) and the ids Postgres draws for set-based rows.
DIGESTS = {
    "patients": "select p::text from public.patients as p order by id",
    "registrations": "select r::text from public.patient_registrations as r order by id",
    "appointments": "select a::text from public.appointments as a order by id",
    "prescriptions": (
        "select (id, patient_id, status, status_changed_at, verification_code, issued_at)::text"
        " from public.prescriptions order by id"
    ),
    "status_history": (
        "select (machine, subject_id, from_state, to_state, actor_id, actor_role, reason,"
        " occurred_at)::text from public.status_history order by 1"
    ),
    "care_team": (
        "select (patient_id, hospital_id, member_id, member_role, is_primary, assigned_at)::text"
        " from public.care_team_members order by 1"
    ),
    "messages": "select (m.*)::text from public.messages as m order by id",
    "tickets": "select (t.*)::text from public.tickets as t order by id",
    "journey_instances": "select (j.*)::text from public.journey_instances as j order by id",
    "outbox": (
        "select (kind, subject_id, recipient_id, state, deliver_after, payload)::text"
        " from private.outbox order by 1"
    ),
}


@contextlib.contextmanager
def database_from(settings: Settings, template: str) -> Iterator[str]:
    """A copy of a migrated database (instant, and no second migration run)."""
    with scratch_database(settings, template) as name:
        yield settings.dsn(dbname=name)


@pytest.fixture(scope="module")
def migrated(migrated_template: str) -> str:
    """The name of a database built from the migrations alone (used as a template)."""
    return migrated_template


def generate(dsn: str, seed: int = 7) -> load.Summary:
    return load.generate(dsn, World(seed, SIZES["tiny"], TODAY))


def digest(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {
            name: hashlib.sha256(
                "\n".join(row[0] for row in conn.execute(query)).encode()
            ).hexdigest()
            for name, query in DIGESTS.items()
        }


@pytest.fixture(scope="module")
def tiny(stack: Settings, migrated: str) -> Iterator[str]:
    with database_from(stack, migrated) as dsn:
        generate(dsn)
        yield dsn


def test_tiny_passes_the_consistency_check(tiny: str) -> None:
    results = check.run(tiny)
    assert [(what, count) for what, count, _ in results if count] == []
    names = [what for what, _, _ in results]
    assert any(what.startswith("foreign key public.appointments.") for what in names)
    assert any(what.startswith("audit chain (") for what in names)


def test_the_same_seed_makes_the_same_rows(stack: Settings, migrated: str, tiny: str) -> None:
    with database_from(stack, migrated) as again:
        generate(again)
        assert digest(again) == digest(tiny)


def test_another_seed_makes_other_rows() -> None:
    def patients(seed: int) -> list[tuple]:
        world = World(seed, SIZES["tiny"], TODAY)
        tables = [t for build in load.BUILDERS[:2] for t in build(world)]
        return list(next(t for t in tables if t.name == "public.patients").rows)

    assert patients(1) == patients(1)
    assert patients(1) != patients(2)


def test_the_check_finds_what_a_broken_load_would_leave(stack: Settings, migrated: str) -> None:
    with database_from(stack, migrated) as broken, psycopg.connect(broken) as conn:
        generate(broken)
        # A second live appointment of the same patient at the same time, at another doctor,
        # written with the triggers off as the loader writes (the exclusion constraint would
        # refuse it, so its guard is lifted for this transaction only).
        conn.execute(
            "alter table public.appointments drop constraint appointments_no_patient_overlap"
        )
        conn.execute("alter table public.appointments disable trigger user")
        conn.execute(
            """
            insert into public.appointments
                (hospital_id, doctor_id, doctor_user_id, patient_id, starts_at, ends_at, status)
            select a.hospital_id, d.id, d.user_id, a.patient_id, a.starts_at, a.ends_at, 'scheduled'
            from public.appointments as a
            join public.doctors as d on d.hospital_id = a.hospital_id and d.id <> a.doctor_id
            where a.status = 'scheduled' and not exists (
                select from public.care_team_members as c
                where c.patient_id = a.patient_id and c.member_id = d.user_id)
            and not exists (
                select from public.appointments as b
                where b.doctor_user_id = d.user_id and b.starts_at < a.ends_at
                    and b.ends_at > a.starts_at)
            limit 1
            """
        )
        conn.commit()
        failed = {what for what, count, _ in check.run(broken) if count}
    assert "live appointments of a patient overlapping" in failed
    assert "booked patients not on the doctor's care team" in failed
    assert "current statuses that are not the last recorded transition" in failed


def test_tiny_looks_like_the_data_it_stands_for(tiny: str) -> None:
    with psycopg.connect(tiny) as conn:

        def values(query: str) -> set:
            return {row[0] for row in conn.execute(query)}

        assert values("select status::text from public.appointments") == {
            "requested",
            "scheduled",
            "arrived",
            "checked_in",
            "in_consultation",
            "completed",
            "cancelled",
            "no_show",
        }
        assert {"pending", "approved", "ready_for_pickup", "completed", "denied"} <= values(
            "select status::text from public.prescriptions"
        )
        assert "critical" in values("select status::text from public.lab_results")
        names = values("select full_name from public.patients")
        assert any("\u0a00" <= ch <= "\u0a7f" for name in names for ch in name), "Gurmukhi"
        assert any("\u0900" <= ch <= "\u097f" for name in names for ch in name), "Devanagari"
        assert any(name.isascii() for name in names)
        (shared,) = conn.execute(
            "select count(*) from (select phone from public.patients group by phone"
            " having count(*) > 1) as s"
        ).fetchone()
        assert shared > 0, "families share a phone"
        # Some people were registered twice, and the review queue holds them.
        (pairs,) = conn.execute(
            "select count(*) from public.patient_duplicate_pairs as d"
            " join public.patients as a on a.id = d.patient_id"
            " join public.patients as b on b.id = d.other_patient_id"
            " where d.status = 'open' and a.phone = b.phone and a.date_of_birth = b.date_of_birth"
            " and a.full_name <> b.full_name"
        ).fetchone()
        assert pairs > 0, "a person registered twice, spelled another way, is queued for review"
        assert values("select phone ~ '^\\+91[6-9][0-9]{9}$' from public.patients") == {True}
        states = values("select state from public.patients")
        assert "Punjab" in states
        assert states <= {
            "Punjab",
            "Haryana",
            "Himachal Pradesh",
            "Rajasthan",
            "Chandigarh",
            "Jammu and Kashmir",
        }
        roles = values("select role::text from public.staff_memberships")
        assert roles == {"doctor", "pharmacist", "hospital_admin", "front_desk", "cro", "nurse"}
        # Every staff login takes the documented password (the check /auth/v1 makes).
        (accepted,) = conn.execute(
            "select bool_and(u.encrypted_password = extensions.crypt(%s, u.encrypted_password))"
            " from auth.users as u join public.staff_memberships as m on m.user_id = u.id",
            (STAFF_PASSWORD,),
        ).fetchone()
        assert accepted
        # Patient engagement: messages in every status, in English, Hinglish and both
        # scripts; tickets along their machine; journeys active and finished.
        assert {"read", "delivered", "failed", "queued", "received"} <= values(
            "select status from public.messages"
        )
        assert values("select channel::text from public.messages") == {"whatsapp", "sms"}
        bodies = values("select body from public.messages")
        assert any("\u0a00" <= ch <= "\u0a7f" for body in bodies for ch in body), "Gurmukhi"
        assert any("\u0900" <= ch <= "\u097f" for body in bodies for ch in body), "Devanagari"
        assert any("aapki" in body.lower() for body in bodies), "Hinglish"
        (scheduled,) = conn.execute(
            "select count(*) from public.messages where status = 'queued'"
            " and scheduled_for > now() - interval '1 day'"
        ).fetchone()
        assert scheduled > 0
        assert values("select channel::text from public.message_templates") == {
            "whatsapp",
            "sms",
            "email",
        }
        assert {"open", "in_progress", "waiting_on_patient", "resolved", "closed"} == values(
            "select status from public.tickets"
        )
        assert values("select count(*) > 0 from public.ticket_comments") == {True}
        assert {"active", "completed", "cancelled"} == values(
            "select status from public.journey_instances"
        )
        (doctors_with_hours,) = conn.execute(
            "select count(distinct doctor_id) = (select count(*) from public.doctors)"
            " from public.doctor_working_hours"
        ).fetchone()
        assert doctors_with_hours


def test_the_command_line_refuses_a_second_load(tiny: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit, match="already exist"):
        cli.main(
            ["seed", "generate", "--size", "tiny", "--database-url", tiny, "--today", "2026-12-02"]
        )


# Constraints (and whether validated), indexes, triggers (and whether enabled), and comments.
CATALOG = """
    select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
        || ' ' || convalidated from pg_constraint
    where connamespace in ('public'::regnamespace, 'private'::regnamespace)
    union all
    select indexrelid::regclass::text || ' ' || pg_get_indexdef(indexrelid) from pg_index
    where indrelid in (select oid from pg_class
        where relnamespace in ('public'::regnamespace, 'private'::regnamespace))
    union all
    select tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text from pg_trigger
    where not tgisinternal
    union all
    select 'comment ' || coalesce(obj_description(oid, 'pg_constraint'), '') from pg_constraint
    order by 1
"""


def test_the_load_leaves_the_schema_as_it_found_it(
    stack: Settings, migrated: str, tiny: str
) -> None:
    """Triggers switched off, indexes and constraints set aside for the load are all back."""
    with psycopg.connect(stack.dsn(dbname=migrated)) as fresh, psycopg.connect(tiny) as loaded:
        before = [row[0] for row in fresh.execute(CATALOG)]
        after = [row[0] for row in loaded.execute(CATALOG)]
    assert len(before) > 500
    assert after == before
