"""Notification delivery end to end: outbox rows in the running stack, the sidecar's worker
(in-process, service role through the Supabase API) and local fakes of FCM and Twilio.

Test rows are committed (the worker reads them through the API) and removed afterwards.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from psycopg.rows import dict_row
from supabase import Client, ClientOptions, create_client

from devstack import services
from devstack.config import Settings
from devstack.local_server import LocalServer
from sidecar.settings import SidecarSettings
from tests.fakes.fcm import FakeFcm
from tests.fakes.google_oauth import FakeGoogleOAuth
from tests.fakes.twilio import FakeTwilio
from tests.outbox import deliver

NABHA = "10000000-0000-4000-8000-000000000001"
DEMO_PASSWORD = "Carebase#2026"
PASSWORD = "Test#Passw0rd"
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def fcm() -> Iterator[FakeFcm]:
    fake = FakeFcm()
    with LocalServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with LocalServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def settings(stack: Settings, gateway: str, fcm: FakeFcm, twilio: FakeTwilio) -> SidecarSettings:
    fcm.reset()
    twilio.reset()
    return SidecarSettings(
        supabase_url=gateway,
        supabase_anon_key=stack.anon_key,
        supabase_service_role_key=stack.service_role_key,
        fcm_base_url=fcm.url,  # type: ignore[attr-defined]
        fcm_project_id=fcm.project_id,
        fcm_access_token=fcm.access_token,
        twilio_base_url=twilio.url,  # type: ignore[attr-defined]
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number=twilio.from_number,
        worker_batch_size=3,
        worker_max_attempts=MAX_ATTEMPTS,
        delivery_timeout=5.0,
    )


@dataclass
class Person:
    user_id: str
    patient_id: str
    phone: str
    client: Client


def sign_in(gateway: str, stack: Settings, email: str, password: str) -> Client:
    client = create_client(
        gateway, stack.anon_key, ClientOptions(auto_refresh_token=False, persist_session=False)
    )
    client.auth.sign_in_with_password({"email": email, "password": password})
    return client


@pytest.fixture
def db_commit(stack: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.dsn(), autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def patients(
    stack: Settings, gateway: str, db_commit: psycopg.Connection
) -> Iterator[list[Person]]:
    """Two patients of Nabha with logins (email + password) and phones of their own."""
    admin = httpx.Client(
        base_url=f"{gateway}/auth/v1",
        headers={
            "apikey": stack.service_role_key,
            "Authorization": f"Bearer {stack.service_role_key}",
        },
    )
    people: list[Person] = []
    try:
        for _ in range(2):
            email = f"notify-{uuid.uuid4().hex[:10]}@example.test"
            response = admin.post(
                "/admin/users", json={"email": email, "password": PASSWORD, "email_confirm": True}
            )
            assert response.status_code == 200, response.text
            user_id = response.json()["id"]
            phone = f"+9170{random.randint(10**7, 10**8 - 1)}"  # noqa: S311 (not a secret)
            patient = db_commit.execute(
                "insert into public.patients (user_id, full_name, phone)"
                " values (%s, 'Notify Test', %s) returning id",
                (user_id, phone),
            ).fetchone()
            db_commit.execute(
                "insert into public.patient_registrations (patient_id, hospital_id)"
                " values (%s, %s)",
                (patient["id"], NABHA),
            )
            people.append(
                Person(user_id, str(patient["id"]), phone, sign_in(gateway, stack, email, PASSWORD))
            )
        yield people
    finally:
        for person in people:
            db_commit.execute(
                "delete from private.outbox where recipient_id = %s", (person.patient_id,)
            )
            db_commit.execute(
                "delete from public.device_tokens where user_id = %s", (person.user_id,)
            )
            db_commit.execute(
                "delete from public.patient_registrations where patient_id = %s",
                (person.patient_id,),
            )
            db_commit.execute("delete from public.patients where id = %s", (person.patient_id,))
            admin.delete(f"/admin/users/{person.user_id}")
        admin.close()


def enqueue(db: psycopg.Connection, person: Person, channel: str) -> str:
    subject = str(uuid.uuid4())
    db.execute(
        "select private.enqueue('appointment_reminder', 'appointment', %s, %s, 'patient', %s, %s,"
        " jsonb_build_object('starts_at', '2026-12-01T04:30:00Z', 'reason', 'chest pain'))",
        (subject, NABHA, person.patient_id, channel),
    )
    return str(
        db.execute("select id from private.outbox where subject_id = %s", (subject,)).fetchone()[
            "id"
        ]
    )


def outbox_row(db: psycopg.Connection, notification_id: str) -> dict[str, Any]:
    return db.execute("select * from private.outbox where id = %s", (notification_id,)).fetchone()


def register_token(person: Person, token: str) -> None:
    person.client.table("device_tokens").insert({"token": token, "platform": "android"}).execute()


def test_a_token_registered_over_rest_is_private_and_used_for_push(
    settings: SidecarSettings, fcm: FakeFcm, patients: list[Person], db_commit: psycopg.Connection
) -> None:
    asha, other = patients
    register_token(asha, "tok-asha-phone")
    mine = asha.client.table("device_tokens").select("token, platform, user_id").execute().data
    assert mine == [{"token": "tok-asha-phone", "platform": "android", "user_id": asha.user_id}]
    assert other.client.table("device_tokens").select("token").execute().data == []

    notification = enqueue(db_commit, asha, "push")
    deliver(settings)

    [message] = fcm.messages_for(notification)
    assert message["token"] == "tok-asha-phone"
    assert message["notification"] == {
        "title": "Appointment reminder",
        "body": "Reminder: your appointment is on 01 Dec 2026 at 10:00.",
    }
    assert "chest pain" not in str(message)
    row = outbox_row(db_commit, notification)
    assert row["state"] == "sent"
    assert row["provider_message_id"].startswith(f"projects/{fcm.project_id}/messages/")


def test_push_with_a_service_account_exchanges_it_for_one_oauth_token(
    settings: SidecarSettings,
    fcm: FakeFcm,
    patients: list[Person],
    db_commit: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As deployed: FCM's bearer token is minted from the service account key, once per hour,
    whatever the machine's time zone (Mumbai here)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    oauth = FakeGoogleOAuth(access_token=fcm.access_token)
    asha, _ = patients
    register_token(asha, "tok-asha-service-account")
    notifications = [enqueue(db_commit, asha, "push") for _ in range(2)]
    with LocalServer(oauth.app) as server:
        oauth.url = server.url
        key_file = oauth.service_account_file(tmp_path, fcm.project_id)
        deliver(
            settings.model_copy(
                update={"fcm_access_token": "", "fcm_credentials_file": str(key_file)}
            )
        )
    monkeypatch.delenv("TZ")
    time.tzset()

    assert [len(fcm.messages_for(n)) for n in notifications] == [1, 1]
    assert oauth.exchanges() == 1
    [assertion] = oauth.assertions
    assert assertion["iss"] == oauth.client_email
    assert "https://www.googleapis.com/auth/cloud-platform" in assertion["scope"].split()


def test_a_refused_service_account_key_is_retried_later(
    settings: SidecarSettings,
    fcm: FakeFcm,
    patients: list[Person],
    db_commit: psycopg.Connection,
    tmp_path: Path,
) -> None:
    oauth = FakeGoogleOAuth(access_token=fcm.access_token)
    oauth.key_revoked = True
    asha, _ = patients
    register_token(asha, "tok-asha-key-revoked")
    notification = enqueue(db_commit, asha, "push")
    with LocalServer(oauth.app) as server:
        oauth.url = server.url
        key_file = oauth.service_account_file(tmp_path, fcm.project_id)
        deliver(
            settings.model_copy(
                update={"fcm_access_token": "", "fcm_credentials_file": str(key_file)}
            )
        )

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "invalid_grant" in row["last_error"]
    assert fcm.messages_for(notification) == []


def test_two_workers_deliver_each_row_exactly_once(
    settings: SidecarSettings, fcm: FakeFcm, patients: list[Person], db_commit: psycopg.Connection
) -> None:
    asha, _ = patients
    register_token(asha, "tok-asha-tablet")
    notifications = [enqueue(db_commit, asha, "push") for _ in range(12)]
    fcm.delay = 0.05  # both workers are mid-batch at the same time

    deliver(settings, workers=2)

    assert [len(fcm.messages_for(n)) for n in notifications] == [1] * 12
    states = {outbox_row(db_commit, n)["state"] for n in notifications}
    assert states == {"sent"}


def test_a_failing_channel_backs_off_then_dead_letters(
    settings: SidecarSettings,
    twilio: FakeTwilio,
    patients: list[Person],
    db_commit: psycopg.Connection,
) -> None:
    asha, _ = patients
    notification = enqueue(db_commit, asha, "sms")
    twilio.fail_next = [503] * MAX_ATTEMPTS
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        deliver(settings)
        row = outbox_row(db_commit, notification)
        assert (row["state"], row["attempts"]) == ("pending", attempt)
        assert "twilio 503" in row["last_error"]
        waits.append((row["deliver_after"] - datetime.now(UTC)).total_seconds())
        # Time passes: the retry is due.
        db_commit.execute(
            "update private.outbox set deliver_after = now() where id = %s", (notification,)
        )
    assert 20 < waits[0] < 40 and waits[1] > waits[0] * 1.3  # ~30 s, then ~60 s

    deliver(settings)

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["attempts"]) == ("dead", MAX_ATTEMPTS)
    assert twilio.attempts_to(asha.phone) == MAX_ATTEMPTS
    assert twilio.messages_to(asha.phone) == []


def test_an_invalid_number_is_dead_at_once(
    settings: SidecarSettings,
    twilio: FakeTwilio,
    patients: list[Person],
    db_commit: psycopg.Connection,
) -> None:
    asha, _ = patients
    twilio.invalid_numbers.add(asha.phone)
    notification = enqueue(db_commit, asha, "sms")

    deliver(settings)

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["attempts"]) == ("dead", 1)
    assert "21211" in row["last_error"]


def test_an_admin_lists_and_retries_a_dead_letter(
    stack: Settings,
    gateway: str,
    settings: SidecarSettings,
    twilio: FakeTwilio,
    patients: list[Person],
    db_commit: psycopg.Connection,
) -> None:
    asha, _ = patients
    twilio.invalid_numbers.add(asha.phone)
    notification = enqueue(db_commit, asha, "sms")
    deliver(settings)
    assert outbox_row(db_commit, notification)["state"] == "dead"

    front_desk = sign_in(gateway, stack, "frontdesk@nabha.carebase.test", DEMO_PASSWORD)
    assert notification not in {
        d["id"] for d in front_desk.rpc("dead_notifications").execute().data
    }
    with pytest.raises(APIError) as refused:
        front_desk.rpc("retry_notification", {"notification_id": notification}).execute()
    assert refused.value.code == "42501"

    admin = sign_in(gateway, stack, "admin@nabha.carebase.test", DEMO_PASSWORD)
    [dead] = [d for d in admin.rpc("dead_notifications").execute().data if d["id"] == notification]
    assert dead["channel"] == "sms" and "21211" in dead["last_error"]
    assert (
        admin.rpc("retry_notification", {"notification_id": notification}).execute().data
        == "pending"
    )

    twilio.invalid_numbers.clear()  # the number was fixed
    deliver(settings)

    assert outbox_row(db_commit, notification)["state"] == "sent"
    [sms] = twilio.messages_to(asha.phone)
    assert (
        sms["body"]
        == "Appointment reminder: Reminder: your appointment is on 01 Dec 2026 at 10:00."
    )


def test_an_unregistered_token_is_removed(
    settings: SidecarSettings, fcm: FakeFcm, patients: list[Person], db_commit: psycopg.Connection
) -> None:
    asha, _ = patients
    register_token(asha, "tok-asha-old-phone")
    register_token(asha, "tok-asha-new-phone")
    fcm.unregistered.add("tok-asha-old-phone")
    notification = enqueue(db_commit, asha, "push")

    deliver(settings)

    assert [m["token"] for m in fcm.messages_for(notification)] == ["tok-asha-new-phone"]
    assert outbox_row(db_commit, notification)["state"] == "sent"
    tokens = asha.client.table("device_tokens").select("token").execute().data
    assert tokens == [{"token": "tok-asha-new-phone"}]


def test_a_push_whose_every_device_is_gone_is_dead_and_the_tokens_forgotten(
    settings: SidecarSettings, fcm: FakeFcm, patients: list[Person], db_commit: psycopg.Connection
) -> None:
    asha, _ = patients
    register_token(asha, "tok-asha-uninstalled")
    fcm.unregistered.add("tok-asha-uninstalled")
    notification = enqueue(db_commit, asha, "push")

    deliver(settings)

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["attempts"]) == ("dead", 1)
    assert "UNREGISTERED" in row["last_error"]
    assert asha.client.table("device_tokens").select("token").execute().data == []


def test_a_push_to_a_patient_without_the_app_goes_by_sms(
    settings: SidecarSettings,
    twilio: FakeTwilio,
    patients: list[Person],
    db_commit: psycopg.Connection,
) -> None:
    asha, _ = patients
    notification = enqueue(db_commit, asha, "push")

    deliver(settings)

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["channel"]) == ("sent", "sms")
    assert len(twilio.messages_to(asha.phone)) == 1


def test_fcm_outage_is_retried_not_dead_lettered(
    settings: SidecarSettings, fcm: FakeFcm, patients: list[Person], db_commit: psycopg.Connection
) -> None:
    asha, _ = patients
    register_token(asha, "tok-asha-flaky")
    fcm.fail_next = [503]
    notification = enqueue(db_commit, asha, "push")

    deliver(settings)

    row = outbox_row(db_commit, notification)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "UNAVAILABLE" in row["last_error"]
    assert asha.client.table("device_tokens").select("token").execute().data == [
        {"token": "tok-asha-flaky"}
    ]


def test_carebase_worker_delivers_in_the_foreground(
    stack: Settings,
    gateway: str,
    settings: SidecarSettings,
    twilio: FakeTwilio,
    patients: list[Person],
    db_commit: psycopg.Connection,
) -> None:
    asha, _ = patients
    notification = enqueue(db_commit, asha, "sms")
    env = {
        **os.environ,
        "CAREBASE_TWILIO_BASE_URL": settings.twilio_base_url,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_FROM_NUMBER": settings.twilio_from_number,
        "CAREBASE_WORKER_POLL_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.cli", "worker"],
        cwd=stack.repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while outbox_row(db_commit, notification)["state"] != "sent":
            assert time.monotonic() < deadline, "the worker did not deliver within 20 s"
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()
    assert process.returncode == 0, output
    assert len(twilio.messages_to(asha.phone)) == 1
    assert '"channels": ["sms"]' in output


def test_carebase_up_runs_the_worker(stack: Settings) -> None:
    [worker] = [s for s in services.background_services(stack) if s.name.startswith("worker")]
    assert worker.running_pid() is not None
    log = worker.log_file.read_text()
    assert "worker started" in log or "no notification channel is configured" in log
