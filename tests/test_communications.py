"""Messages to patients end to end (issue 19, item 2), as the hospital's staff and Twilio see
them: templates rendered in the sidecar (served in-process over HTTP), queued in the running
stack's database, sent by the worker (in-process, service role) to a real local SMTP server
(aiosmtpd, with a login) and to the Twilio fake, and moved on by Twilio's signed status
callbacks; an appointment's event emails arrive with their calendar invitation. The database
rules themselves are pgTAP's (supabase/tests/communications.test.sql, event_emails.test.sql).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.messaging.ics import invitation
from sidecar.settings import SidecarSettings
from tests.fakes.twilio import FakeTwilio
from tests.outbox import deliver

NABHA = "10000000-0000-4000-8000-000000000001"
ADMIN = "admin@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
SMTP_LOGIN, SMTP_PASSWORD = "carebase-relay", "relay-password"
CONTENT_SID = "HX" + "5" * 32

# The relay login is tested without TLS (a local server has no certificate to trust).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Mailbox:
    """What the local SMTP server received, and the logins it accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_LOGIN.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=box.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with LocalServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def sidecar_url(stack: Settings, gateway: str, twilio: FakeTwilio) -> Iterator[str]:
    settings = SidecarSettings(supabase_url=gateway, twilio_auth_token=twilio.auth_token)
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


@pytest.fixture
def worker_settings(
    stack: Settings, gateway: str, mailbox: Mailbox, twilio: FakeTwilio, sidecar_url: str
) -> SidecarSettings:
    # WhatsApp and email only: the demo data's push and SMS notifications stay where they are.
    return SidecarSettings(
        supabase_url=gateway,
        supabase_anon_key=stack.anon_key,
        supabase_service_role_key=stack.service_role_key,
        sidecar_public_url=sidecar_url,
        twilio_base_url=twilio.url,  # type: ignore[attr-defined]
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_whatsapp_from=twilio.whatsapp_from,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,  # type: ignore[attr-defined]
        smtp_username=SMTP_LOGIN,
        smtp_password=SMTP_PASSWORD,
        smtp_tls="none",
        smtp_from="care@nabha.carebase.test",
        delivery_timeout=5.0,
    )


def headers(stack: Settings, email: str) -> dict[str, str]:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(email)
    return {"Authorization": f"Bearer {issue(claims, stack.jwt_secret)}", "apikey": stack.anon_key}


@dataclass
class Patient:
    id: str
    phone: str
    email: str


@pytest.fixture
def patient(stack: Settings) -> Iterator[Patient]:
    """A patient of Nabha with a phone and an email of their own; what the test made for them
    (messages, templates, outbox rows, inbox entries) is removed afterwards."""
    phone, email = f"+9196{secrets.randbelow(10**8):08d}", f"p{secrets.token_hex(4)}@example.test"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (patient_id,) = conn.execute(
            "insert into public.patients (full_name, phone, email) values ('Jaspreet Kaur', %s, %s)"
            " returning id",
            (phone, email),
        ).fetchone()
        conn.execute(
            "insert into public.patient_registrations (patient_id, hospital_id) values (%s, %s)",
            (patient_id, NABHA),
        )
    yield Patient(str(patient_id), phone, email)
    with psycopg.connect(stack.dsn(), autocommit=True) as conn, conn.transaction():
        conn.execute(
            "delete from private.webhook_inbox where provider = 'twilio' and external_ref in"
            " (select provider_message_id from public.messages where patient_id = %s)",
            (patient_id,),
        )
        conn.execute("delete from private.outbox where recipient_id = %s", (patient_id,))
        templates = conn.execute(
            "select distinct template_id from public.messages where patient_id = %s"
            " and template_id is not null",
            (patient_id,),
        ).fetchall()
        conn.execute("delete from public.messages where patient_id = %s", (patient_id,))
        # The test's own templates, not the hospital's event email templates.
        conn.execute(
            "delete from public.message_templates where id = any(%s) and code not in"
            " (select code from private.default_event_email_templates())",
            ([t for (t,) in templates],),
        )
        conn.execute("delete from public.care_team_members where patient_id = %s", (patient_id,))
        conn.execute("delete from public.appointments where patient_id = %s", (patient_id,))
        conn.execute(
            "delete from public.patient_registrations where patient_id = %s", (patient_id,)
        )
        conn.execute("delete from public.patients where id = %s", (patient_id,))


def add_template(stack: Settings, gateway: str, **fields: Any) -> str:
    """As the hospital's admin would, over /rest/v1."""
    row = {"hospital_id": NABHA, "code": "t_" + secrets.token_hex(4), "name": "Test"} | fields
    response = httpx.post(
        f"{gateway}/rest/v1/message_templates",
        json=row,
        headers=headers(stack, ADMIN) | {"Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()[0]["code"])


def message(stack: Settings, message_id: str) -> dict[str, Any]:
    with psycopg.connect(stack.dsn()) as conn:
        cursor = conn.execute("select * from public.messages where id = %s", (message_id,))
        names = [c.name for c in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def signed_post(url: str, params: dict[str, str], token: str) -> httpx.Response:
    """As Twilio posts: form-encoded, X-Twilio-Signature over the URL and the sorted params."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    signature = base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest())
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature.decode()})


def test_an_email_from_a_template_arrives_at_the_smtp_server_rendered(
    stack: Settings,
    gateway: str,
    sidecar_url: str,
    mailbox: Mailbox,
    worker_settings: SidecarSettings,
    patient: Patient,
) -> None:
    code = add_template(
        stack,
        gateway,
        channel="email",
        category="results",
        subject="{{ hospital_name }}: your report is ready",
        body="Dear {{ patient_name }},\nyour report is available. Log in to view it.",
        variables=["patient_name", "hospital_name"],
    )
    front_desk = headers(stack, FRONT_DESK)
    request = {
        "patient_id": patient.id,
        "channel": "email",
        "template_name": code,
        "template_vars": {"patient_name": "Jaspreet Kaur"},
    }
    missing = httpx.post(f"{sidecar_url}/api/v1/communications", json=request, headers=front_desk)
    assert (missing.status_code, missing.json()["code"]) == (422, "template_variable_missing")

    request["template_vars"] |= {"hospital_name": "Nabha Civil Hospital"}
    created = httpx.post(f"{sidecar_url}/api/v1/communications", json=request, headers=front_desk)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "queued"

    mailbox.messages.clear()
    assert deliver(worker_settings) >= 1
    [(recipients, email)] = mailbox.messages
    assert recipients == [patient.email]
    assert email["Subject"] == "Nabha Civil Hospital: your report is ready"
    assert email["From"] == "carebase <care@nabha.carebase.test>"
    assert email.get_payload().replace("\r\n", "\n").strip() == (
        "Dear Jaspreet Kaur,\nyour report is available. Log in to view it."
    )
    assert mailbox.logins[-1] == SMTP_LOGIN
    sent = message(stack, created.json()["id"])
    assert (sent["status"], sent["address"]) == ("sent", patient.email)
    assert sent["provider_message_id"] == email["Message-ID"]


def test_whatsapp_outside_the_window_goes_only_as_template_and_twilio_reports_back(
    stack: Settings,
    gateway: str,
    sidecar_url: str,
    twilio: FakeTwilio,
    worker_settings: SidecarSettings,
    patient: Patient,
) -> None:
    code = add_template(
        stack,
        gateway,
        channel="whatsapp",
        category="appointment",
        body="Hi {{ patient_name }}, see you on {{ appointment_date }}.",
        variables=["patient_name", "appointment_date"],
        whatsapp_content_sid=CONTENT_SID,
    )
    front_desk = headers(stack, FRONT_DESK)
    free_text = {"patient_id": patient.id, "channel": "whatsapp", "message": "How are you?"}
    refused = httpx.post(f"{sidecar_url}/api/v1/communications", json=free_text, headers=front_desk)
    assert (refused.status_code, refused.json()["code"]) == (409, "whatsapp_window_closed")

    template = {
        "patient_id": patient.id,
        "channel": "whatsapp",
        "template_name": code,
        "template_vars": {"patient_name": "Jaspreet", "appointment_date": "5 Jan"},
    }
    created = httpx.post(f"{sidecar_url}/api/v1/communications", json=template, headers=front_desk)
    assert created.status_code == 201, created.text
    assert created.json()["body"] == "Hi Jaspreet, see you on 5 Jan."

    twilio.reset()
    deliver(worker_settings)
    [sent] = twilio.messages_to(f"whatsapp:{patient.phone}")
    assert (sent["from"], sent["content_sid"], sent["body"]) == (
        twilio.whatsapp_from,
        CONTENT_SID,
        "",
    )
    assert sent["content_variables"] == '{"1": "Jaspreet", "2": "5 Jan"}'
    callback = sent["status_callback"]
    assert (
        callback == f"{sidecar_url}/api/v1/webhooks/twilio/status?message_id={created.json()['id']}"
    )

    delivered = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "To": sent["to"]}
    forged = httpx.post(
        callback, data=delivered, headers={"X-Twilio-Signature": "bm90LXR3aWxpbw=="}
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "invalid_signature")
    assert message(stack, created.json()["id"])["status"] == "sent"
    answer = signed_post(callback, delivered, twilio.auth_token)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "applied")
    after = message(stack, created.json()["id"])
    assert (after["status"], after["provider_message_id"]) == ("delivered", sent["sid"])

    # The patient writes on WhatsApp: for 24 hours the hospital may answer in free text.
    inbound = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": f"whatsapp:{patient.phone}",
        "To": twilio.whatsapp_from,
        "Body": "Can I come at 11?",
    }
    assert (
        signed_post(
            f"{sidecar_url}/api/v1/webhooks/twilio/whatsapp", inbound, twilio.auth_token
        ).status_code
        == 200
    )
    answered = httpx.post(
        f"{sidecar_url}/api/v1/communications",
        json=free_text | {"message": "Yes, 11 is fine."},
        headers=front_desk,
    )
    assert answered.status_code == 201, answered.text
    deliver(worker_settings)
    assert [m["body"] for m in twilio.messages_to(f"whatsapp:{patient.phone}")][-1] == (
        "Yes, 11 is fine."
    )


def test_a_template_queued_without_its_text_is_rendered_by_the_worker(
    stack: Settings,
    gateway: str,
    mailbox: Mailbox,
    worker_settings: SidecarSettings,
    patient: Patient,
) -> None:
    """As a journey stage queues its messages (or a client calling rpc/send_message with a
    template and no text): the worker renders the template when it sends, and records the text.
    A message without a value for one of the template's variables is refused when queued; one
    queued before that check fails at send instead of going with a blank."""
    code = add_template(
        stack,
        gateway,
        channel="email",
        subject="{{ journey_name }}",
        body="Dear {{ patient_name }}, the next step of {{ journey_name }} is due.",
        variables=["patient_name", "journey_name"],
    )
    with psycopg.connect(stack.dsn()) as conn:
        (template_id,) = conn.execute(
            "select id from public.message_templates where hospital_id = %s and code = %s",
            (NABHA, code),
        ).fetchone()
    front_desk = headers(stack, FRONT_DESK)

    def send(values: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{gateway}/rest/v1/rpc/send_message",
            json={
                "patient_id": patient.id,
                "channel": "email",
                "body": None,
                "template_id": str(template_id),
                "template_variables": values,
            },
            headers=front_desk,
        )

    refused = send({"patient_name": "Jaspreet Kaur"})
    assert refused.status_code == 400
    assert (refused.json()["details"], refused.json()["message"]) == (
        "template_values_missing",
        "the template needs a value for journey_name",
    )
    queued = []
    for _ in range(2):
        response = send({"patient_name": "Jaspreet Kaur", "journey_name": "Recovery"})
        assert response.status_code == 200, response.text
        assert response.json()["body"] is None
        queued.append(response.json()["id"])
    with psycopg.connect(stack.dsn()) as conn:
        # The second made like a message queued before the database checked values
        # (20261214190000): one of them gone. One transaction: nobody sees the check off.
        conn.execute("alter table public.messages disable trigger messages_template_values")
        conn.execute(
            "update public.messages set template_variables = template_variables - 'journey_name'"
            " where id = %s",
            (queued[1],),
        )
        conn.execute("alter table public.messages enable trigger messages_template_values")

    mailbox.messages.clear()
    deliver(worker_settings)
    [(recipients, email)] = mailbox.messages
    assert (recipients, email["Subject"]) == ([patient.email], "Recovery")
    rendered = message(stack, queued[0])
    assert (rendered["status"], rendered["body"]) == (
        "sent",
        "Dear Jaspreet Kaur, the next step of Recovery is due.",
    )
    failed = message(stack, queued[1])
    assert failed["status"] == "failed"
    assert failed["status_reason"].startswith("template_variable_missing")
    assert failed["body"] is None


def subject(email: Message) -> str:
    """The Subject header, unfolded."""
    return " ".join(str(email["Subject"]).split())


def plain(email: Message) -> str:
    """The plain-text body of a multipart email."""
    [part] = [p for p in email.walk() if p.get_content_type() == "text/plain"]
    return str(part.get_payload(decode=True).decode()).replace("\r\n", "\n")


def calendar(email: Message) -> tuple[str, dict[str, str]]:
    """The invitation attached to an email: its method (Content-Type) and its properties,
    after checking the RFC 5545 layout (CRLF, lines of at most 75 octets) and unfolding."""
    [part] = [p for p in email.walk() if p.get_content_type() == "text/calendar"]
    raw = part.get_payload(decode=True)
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = raw.decode().replace("\r\n ", "").split("\r\n")
    properties: dict[str, str] = {}
    for line in unfolded[:-1]:
        name, _, value = line.partition(":")
        properties.setdefault(name.split(";")[0], value)
    assert (unfolded[0], unfolded[-2]) == ("BEGIN:VCALENDAR", "END:VCALENDAR")
    return part.get_param("method"), properties


def test_an_appointment_emails_its_invitation_and_each_move_and_the_cancellation(
    stack: Settings, mailbox: Mailbox, worker_settings: SidecarSettings, patient: Patient
) -> None:
    """Booked: a confirmation with a calendar invitation (METHOD:REQUEST, SEQUENCE 0); moved:
    the same UID with SEQUENCE 1 and the new time; cancelled: METHOD:CANCEL, SEQUENCE 2."""
    day = secrets.randbelow(3000)
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (appointment_id, doctor) = conn.execute(
            "insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at,"
            " ends_at) select %s, d.id, %s, s, s + interval '15 minutes'"
            " from public.doctors as d, lateral (select timestamptz '2030-01-01 04:30Z'"
            " + make_interval(days => %s)) as t (s)"
            " where d.hospital_id = %s order by d.id limit 1 returning id,"
            " (select full_name from public.profiles where id = doctor_user_id)",
            (NABHA, patient.id, day, NABHA),
        ).fetchone()

        def sent() -> tuple[str, dict[str, str], Message]:
            mailbox.messages.clear()
            deliver(worker_settings)
            [(recipients, email)] = mailbox.messages
            assert recipients == [patient.email]
            method, properties = calendar(email)
            return method, properties, email

        method, booked, email = sent()
        assert method == "REQUEST" and booked["METHOD"] == "REQUEST"
        assert subject(email).startswith("Civil Hospital Nabha: your appointment on ")
        text = plain(email)
        assert f"with {doctor} at Civil Hospital Nabha is confirmed for" in text
        assert "at 10:00 (Asia/Kolkata)" in text
        assert (booked["UID"], booked["SEQUENCE"], booked["STATUS"]) == (
            f"{appointment_id}@carebase",
            "0",
            "CONFIRMED",
        )
        assert booked["SUMMARY"] == f"Appointment with {doctor} at Civil Hospital Nabha"
        assert booked["DTSTART"].endswith("T043000Z") and booked["DTEND"].endswith("T044500Z")
        assert booked["ORGANIZER"] == "mailto:contact@nabha.carebase.test"
        assert "(Asia/Kolkata)" in booked["DESCRIPTION"]

        conn.execute(
            "update public.appointments set starts_at = starts_at + interval '2 hours',"
            " ends_at = ends_at + interval '2 hours' where id = %s",
            (appointment_id,),
        )
        method, moved, email = sent()
        assert " is now on " in plain(email)
        assert (method, moved["UID"], moved["SEQUENCE"]) == ("REQUEST", booked["UID"], "1")
        assert moved["DTSTART"].endswith("T063000Z")

        conn.execute(
            "update public.appointments set status = 'cancelled', status_reason = 'unwell'"
            " where id = %s",
            (appointment_id,),
        )
        method, cancelled, email = sent()
        assert (method, cancelled["METHOD"], cancelled["STATUS"]) == (
            "CANCEL",
            "CANCEL",
            "CANCELLED",
        )
        assert (cancelled["UID"], cancelled["SEQUENCE"]) == (booked["UID"], "2")
        assert subject(email).endswith(" is cancelled")


def test_an_invitation_escapes_text_and_folds_long_lines_between_characters() -> None:
    """Commas, semicolons, backslashes and newlines are escaped; lines of multi-byte text fold
    at 75 octets without splitting a character; unfolded, the text is what was given."""
    location = "ਸਿਵਲ ਹਸਪਤਾਲ ਨਾਭਾ, Patiala Gate Road; Ward 3\\B\nFloor 2 " * 2
    ics = invitation(
        {
            "uid": "a@carebase",
            "sequence": 3,
            "method": "REQUEST",
            "status": "CONFIRMED",
            "starts_at": "2030-04-01T05:00:00+00:00",
            "ends_at": "2030-04-01T05:30:00+00:00",
            "time_zone": "Asia/Kolkata",
            "summary": "Appointment with Dr. Kaur at Nabha",
            "location": location,
            "organizer_name": "Civil Hospital, Nabha",
            "organizer_email": None,
            "attendee_name": None,
            "attendee_email": None,
        },
        fallback_organizer="care@nabha.carebase.test",
    )
    raw = ics.encode()
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines) and max(len(line) for line in lines) >= 70
    [line.decode() for line in lines]  # every physical line is whole UTF-8
    unfolded = ics.replace("\r\n ", "").split("\r\n")
    [escaped] = [line[len("LOCATION:") :] for line in unfolded if line.startswith("LOCATION:")]
    assert escaped.count("\\,") == 2 and escaped.count("\\;") == 2 and escaped.count("\\n") == 2
    unescaped = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], escaped)
    assert unescaped == location
    assert 'ORGANIZER;CN="Civil Hospital, Nabha":mailto:care@nabha.carebase.test' in unfolded
    assert "DTSTART:20300401T050000Z" in unfolded and "SEQUENCE:3" in unfolded
    assert "DESCRIPTION:At the hospital: 2030-04-01 10:30 (Asia/Kolkata). " in " ".join(unfolded)
