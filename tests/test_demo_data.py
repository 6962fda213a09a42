"""What `make up` loads on top of the migrations (README, "Demo data"): supabase/seed.sql's
hospital with working hours for its doctors, and the generator's `demo` size, once.

The load is checked in a scratch database (the shared stack also holds what other tests make);
the stack itself is checked for what `make up` left there and for a second `make up` adding
nothing. The generated outbox rows are claimed and rendered, as a worker with channels would,
inside a transaction that is rolled back: nothing is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest

from devstack import cli, services
from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.migrate import scratch_database
from devstack.postgrest_session import PostgrestSession
from seed import check
from tests.conftest import ScratchDatabase

NABHA_DOCTORS = [f"30000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
GENERATED = ("PTA", "LDH")
COUNTS = """
    select (select count(*) from public.hospitals), (select count(*) from public.patients),
        (select count(*) from public.appointments), (select count(*) from public.prescriptions),
        (select count(*) from private.outbox), (select count(*) from audit.log)
"""


@pytest.fixture(scope="module")
def made_up(stack: Settings, migrated_db: ScratchDatabase) -> Iterator[Settings]:
    """A scratch database loaded as `make up` loads a new one: migrations, seed.sql, demo."""
    with scratch_database(stack, migrated_db.name) as name:
        settings = dataclasses.replace(stack, db_name=name)
        cli.seed(settings)
        cli.demo(settings)
        yield settings


def test_a_new_database_gets_the_demo_hospital_and_the_generated_ones(made_up: Settings) -> None:
    with psycopg.connect(made_up.dsn()) as conn:
        hospitals = dict(
            conn.execute(
                "select h.code, count(r.*) from public.hospitals as h"
                " left join public.patient_registrations as r on r.hospital_id = h.id"
                " group by h.code"
            ).fetchall()
        )
        waiting, critical = conn.execute(
            "select (select count(*) from public.prescriptions where status = 'pending'),"
            " (select count(*) from public.lab_results where status = 'critical')"
        ).fetchone()
        # The seven days around today in India (a Sunday may have none).
        days = conn.execute(
            "with local as (select (starts_at at time zone 'Asia/Kolkata')::date as day,"
            "  (now() at time zone 'Asia/Kolkata')::date as today from public.appointments)"
            " select count(distinct day) from local where day between today - 3 and today + 3"
        ).fetchone()[0]
    assert hospitals["NAB"] == 5, "seed.sql's hospital keeps its five patients"
    assert hospitals["PTA"] + hospitals["LDH"] > 400, "400 patients, some at both hospitals"
    assert waiting > 10 and critical > 0
    assert days >= 6, "appointments on the days around today"


def test_what_make_up_loads_passes_the_consistency_check(made_up: Settings) -> None:
    assert [(what, count) for what, count, _ in check.run(made_up.dsn()) if count] == []


def test_a_second_load_adds_nothing(made_up: Settings, capsys: pytest.CaptureFixture) -> None:
    with psycopg.connect(made_up.dsn()) as conn:
        before = conn.execute(COUNTS).fetchone()
    cli.demo(made_up)
    with psycopg.connect(made_up.dsn()) as conn:
        assert conn.execute(COUNTS).fetchone() == before
    assert "demo data" not in capsys.readouterr().out


def test_demo_data_none_loads_nothing_and_a_wrong_size_says_what_is_allowed(
    stack: Settings,
) -> None:
    cli.demo(dataclasses.replace(stack, demo_data="none", db_name="no_such_database"))
    with pytest.raises(DevstackError, match="tiny, demo, large, xl or none"):
        cli.demo(dataclasses.replace(stack, demo_data="huge"))


def test_the_stack_holds_them_and_a_second_make_up_adds_nothing(
    stack: Settings, capsys: pytest.CaptureFixture
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        codes = {row[0] for row in conn.execute("select code from public.hospitals")}
        before = conn.execute(COUNTS).fetchone()
    assert {"NAB", *GENERATED} <= codes
    cli.up(stack)
    with psycopg.connect(stack.dsn()) as conn:
        assert conn.execute(COUNTS).fetchone() == before
    assert "demo data" not in capsys.readouterr().out


@pytest.mark.parametrize("doctor", NABHA_DOCTORS)
def test_each_demo_doctor_has_free_slots_this_week(as_user: PostgrestSession, doctor: str) -> None:
    as_user.user("frontdesk@nabha.carebase.test")
    [(slots,)] = as_user.rows(
        "select count(*) from public.find_slots(now(), now() + interval '7 days', %s)", (doctor,)
    )
    assert slots > 0


def test_make_up_gives_its_worker_no_notification_channel(stack: Settings) -> None:
    """Channels come only from the environment (FCM, Twilio settings); devstack sets none."""
    environment = services.worker(stack).env
    assert not [name for name in environment if name.startswith(("CAREBASE_FCM", "TWILIO_"))]


def test_a_worker_could_claim_and_render_every_generated_notification(
    db: psycopg.Connection,
) -> None:
    """Every generated outbox row, made pending and due (whatever the worker of the tests did
    with some), is claimed once with its text and its address, or settled as undeliverable;
    then nothing is left to claim. Rolled back: nothing is sent."""
    generated = "select id from public.hospitals where code = any(%(codes)s)"
    codes = {"codes": list(GENERATED)}
    hospitals = [row[0] for row in db.execute(generated, codes)]
    made_due = db.execute(
        "update private.outbox set state = 'pending', attempts = 0, lease_until = null,"
        " claim_token = null, deliver_after = now() - interval '1 second'"
        " where hospital_id = any(%s)",
        (hospitals,),
    ).rowcount
    assert made_due > 1000
    session = PostgrestSession(db)
    session.service_role()
    claimed: list[tuple] = []
    while rows := session.rows(
        "select id, channel, title, body, phone, hospital_id, kind, data"
        " from public.claim_notifications(500, '2 minutes', '{push,sms,whatsapp,email}')"
    ):
        # Any other due row of the stack is claimed too; only the generated ones are counted.
        claimed += [row for row in rows if row[5] in hospitals]
        assert len(claimed) <= made_due
    assert claimed
    assert len({row[0] for row in claimed}) == len(claimed), "each row is claimed once"
    # A message a journey queued from a template is rendered by the worker as it goes: the
    # claim gives the template and its values, every variable of it given.
    for _, _, _, body, _, _, kind, data in claimed:
        if not body:
            assert kind == "message", data
            assert set(data["render"]["variables"]) <= set(data["render"]["values"]), data
    # A notification has a title; a PRM text message (SMS, WhatsApp) has none, only its body.
    assert all(title for _, _, title, _, _, _, kind, _ in claimed if kind != "message")
    assert all(
        phone for _, channel, _, _, phone, _, _, _ in claimed if channel in {"sms", "whatsapp"}
    )
    db.execute("set local role postgres")
    [(left,)] = db.execute(
        "select count(*) from private.outbox where state = 'pending' and hospital_id = any(%s)",
        (hospitals,),
    ).fetchall()
    assert left == 0


def test_the_generated_front_offices_have_a_funnel_and_a_cro_queue(made_up: Settings) -> None:
    """Seed 004's screens show something: every stage of the funnel reached, a CRO queue with
    unassigned leads too, calls logged, follow-ups waiting, leads converted into patients."""
    with psycopg.connect(made_up.dsn()) as conn:
        session = PostgrestSession(conn)
        session.user("front-desk1@pta.carebase.test")
        (funnel,) = conn.execute(
            "select public.lead_funnel(id) from public.hospitals where code = 'PTA'"
        ).fetchone()
        (queue, unassigned) = conn.execute(
            "select count(*), count(*) filter (where assigned_to is null)"
            " from public.cro_queue(everyone => true)"
        ).fetchone()
        conn.rollback()
        calls, follow_ups, linked = conn.execute(
            "select (select count(*) from public.lead_activities where kind = 'call'),"
            " (select count(*) from public.lead_follow_ups where done_at is null),"
            " (select count(*) from public.leads as l join public.patients as p"
            " on p.id = l.patient_id and p.full_name = l.full_name)"
        ).fetchone()
    reached = {stage["state"]: stage["reached"] for stage in funnel["stages"]}
    assert funnel["cohort"] > 100
    assert reached["new_inquiry"] == funnel["cohort"]
    assert all(reached[s] > 0 for s in ("contacted", "stalling_sent_to_cro", "converted", "lost"))
    assert queue > 10 and 0 < unassigned < queue
    assert calls > 0 and follow_ups > 0 and linked > 0
