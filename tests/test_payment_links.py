"""An invoice paid through a Razorpay Payment Link (issue 18, items 2 and 6), as the front desk,
the patient and Razorpay see it, against the local fake of Razorpay and a local SMTP server:
one open link per invoice for what the patient owes (asked again, the same link, also after
Razorpay's answer was lost; superseded when a counter payment changed what is due, and then
cancelled on Razorpay by the worker), paid on Razorpay's page and recorded by the signed
payment_link.paid webhook as the order flow records a payment (its receipt number, the invoice
paid), a replay changing nothing; a link paid on Razorpay before the worker could cancel it
recorded all the same; the link emailed to a patient who has an email and has not withdrawn
contact by email, and not otherwise.

Runs on the demo hospital with a patient of its own, removed afterwards with what hangs on them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.documents import render
from sidecar.integrations.razorpay import RazorpayClient
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.notifications import Channels, Worker
from sidecar.jobs.payment_link_cancels import PaymentLinkCancels
from sidecar.settings import SidecarSettings
from tests.fakes.razorpay import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.test_communications import SMTP_LOGIN, SMTP_PASSWORD, Mailbox, free_port

HOSPITAL = "10000000-0000-4000-8000-000000000001"
FRONT_DESK = "frontdesk@nabha.carebase.test"
BALWINDER_LOGIN = "50000000-0000-4000-8000-000000000001"  # a patient of Nabha with a login

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


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
def razorpay() -> Iterator[tuple[FakeRazorpay, str]]:
    fake = FakeRazorpay()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def sidecar(stack: Settings, gateway: str, razorpay: tuple[FakeRazorpay, str]) -> Iterator[str]:
    settings = SidecarSettings(
        supabase_url=stack.api_url,
        razorpay_base_url=razorpay[1],
        razorpay_key_id=KEY_ID,
        razorpay_key_secret=KEY_SECRET,
        razorpay_webhook_secret=WEBHOOK_SECRET,
    )
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


@pytest.fixture
def patient(stack: Settings) -> Iterator[tuple[str, str]]:
    """A patient of Nabha with an email; afterwards the patient, their invoices, payments,
    links, messages and the consent document the test made are removed."""
    email = f"p{secrets.token_hex(4)}@example.test"
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (patient_id,) = conn.execute(
            "insert into public.patients (full_name, phone, email)"
            " values ('Simranjit Kaur', %s, %s) returning id",
            (f"+9197{secrets.randbelow(10**8):08d}", email),
        ).fetchone()
        conn.execute(
            "insert into public.patient_registrations (patient_id, hospital_id) values (%s, %s)",
            (patient_id, HOSPITAL),
        )
    yield str(patient_id), email
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        p = {"p": patient_id}
        conn.execute(
            "delete from private.webhook_inbox where provider = 'razorpay' and external_ref in"
            " (select gateway_payment_id from public.payments where patient_id = %(p)s)",
            p,
        )
        conn.execute(
            "delete from public.status_history where subject_id in (select id from"
            " public.payments where patient_id = %(p)s union select id from public.invoices"
            " where patient_id = %(p)s union select id from public.messages"
            " where patient_id = %(p)s)",
            p,
        )
        conn.execute("delete from private.outbox where recipient_id = %(p)s", p)
        conn.execute("delete from public.messages where patient_id = %(p)s", p)
        conn.execute(
            "delete from private.payment_link_cancels where link_id in"
            " (select id from public.payment_links where patient_id = %(p)s)",
            p,
        )
        conn.execute("delete from public.payment_links where patient_id = %(p)s", p)
        conn.execute("delete from public.payments where patient_id = %(p)s", p)
        conn.execute(
            "delete from public.invoice_lines where invoice_id in"
            " (select id from public.invoices where patient_id = %(p)s)",
            p,
        )
        conn.execute("delete from public.invoices where patient_id = %(p)s", p)
        conn.execute("delete from public.consent_events where patient_id = %(p)s", p)
        conn.execute(
            "delete from public.consent_documents where hospital_id = %s and title = 'test email'",
            (HOSPITAL,),
        )
        conn.execute("delete from public.patient_registrations where patient_id = %(p)s", p)
        conn.execute("delete from public.patients where id = %(p)s", p)


def token_of(stack: Settings, login: str) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        return issue(PostgrestSession(conn).claims_for(login), stack.jwt_secret)


def issued_invoice(stack: Settings, patient_id: str, amount: int) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        session.become(session.claims_for(FRONT_DESK), "POST", "/rest/v1/rpc/issue_invoice")
        (invoice,) = conn.execute(
            "insert into public.invoices (hospital_id, patient_id) values (%s, %s) returning id",
            (HOSPITAL, patient_id),
        ).fetchone()
        conn.execute(
            "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
            " values (%s, 'Consultation', '999312', %s)",
            (invoice, amount),
        )
        conn.execute("select public.issue_invoice(%s)", (invoice,))
    return str(invoice)


def row(stack: Settings, query: str, *args: Any) -> tuple[Any, ...]:
    with psycopg.connect(stack.dsn()) as conn:
        return conn.execute(query, args).fetchone()


def post(url: str, token: str, body: Any = None) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def cancel_links(stack: Settings, gateway: str, razorpay_url: str) -> None:
    """The worker's job cancelling on Razorpay the links carebase cancelled, until none is left."""
    settings = SidecarSettings(
        supabase_url=gateway,
        supabase_anon_key=stack.anon_key,
        supabase_service_role_key=stack.service_role_key,
    )

    async def run() -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            job = PaymentLinkCancels(
                settings,
                SupabaseApi(settings, http),
                RazorpayClient(razorpay_url, KEY_ID, KEY_SECRET, http),
            )
            while await job.run_once():
                pass

    asyncio.run(run())


def test_a_payment_link_is_one_per_invoice_paid_once_through_its_signed_webhook(
    stack: Settings,
    gateway: str,
    sidecar: str,
    razorpay: tuple[FakeRazorpay, str],
    patient: tuple[str, str],
) -> None:
    fake = razorpay[0]
    invoice = issued_invoice(stack, patient[0], 1500)
    desk = token_of(stack, FRONT_DESK)
    url = f"{sidecar}/api/v1/invoices/{invoice}/payment-link"

    # Another hospital's invoice, or a patient asking, is not found.
    assert post(url, token_of(stack, BALWINDER_LOGIN)).status_code == 404
    first = post(url, desk)
    assert first.status_code == 200, first.text
    link = first.json()
    assert (link["status"], link["amount"], link["reused"]) == ("created", 1500, False)
    assert link["short_url"].startswith("https://rzp.io/")
    assert fake.links[link["gateway_link_id"]]["amount"] == 150000
    again = post(url, desk).json()
    assert (again["id"], again["reused"]) == (link["id"], True)
    assert len(fake.links) == 1

    # A counter payment changes what is due: the old link is cancelled, here at once and on
    # Razorpay by the worker; the front desk opens a new one.
    counter = post(
        f"{sidecar}/api/v1/payments/process",
        desk,
        {"invoiceId": invoice, "paymentMethod": "cash", "amount": 500},
    )
    assert counter.status_code == 200, counter.text
    old = row(stack, "select status from public.payment_links where id = %s", link["id"])
    assert old == ("cancelled",)
    cancel_links(stack, gateway, razorpay[1])
    assert fake.links[link["gateway_link_id"]]["status"] == "cancelled"
    second = post(url, desk).json()
    assert (second["amount"], second["reused"]) == (1000, False)

    # The patient pays the link; Razorpay's signed webhook records it once.
    paid = fake.pay_link(second["gateway_link_id"])
    event = f"evt_{secrets.token_hex(7)}"
    body = fake.link_event("payment_link.paid", second["gateway_link_id"], paid)
    delivered = fake.deliver(f"{sidecar}/api/v1/webhooks/razorpay", body, event_id=event)
    assert delivered.status_code == 200, delivered.text
    assert (delivered.json()["outcome"], delivered.json().get("status")) == (
        "applied",
        "captured",
    ), delivered.text
    replay = fake.deliver(f"{sidecar}/api/v1/webhooks/razorpay", body, event_id=event)
    assert replay.json()["outcome"] == "duplicate"
    status, amount_paid = row(
        stack, "select status::text, amount_paid from public.invoices where id = %s", invoice
    )
    assert (status, amount_paid) == ("paid", 1500)
    method, receipt, link_status = row(
        stack,
        "select p.method::text, p.receipt_number, l.status from public.payment_links l"
        " join public.payments p on p.id = l.payment_id where l.id = %s",
        second["id"],
    )
    assert (method, link_status) == ("online", "paid")
    assert receipt.startswith("NAB/RCP/")
    # Paid: nothing is due, no new link.
    assert post(url, desk).json()["code"] == "invoice_not_payable"


def test_a_retry_gets_the_link_razorpay_made_and_a_link_paid_first_is_recorded(
    stack: Settings,
    gateway: str,
    sidecar: str,
    razorpay: tuple[FakeRazorpay, str],
    patient: tuple[str, str],
) -> None:
    fake = razorpay[0]
    invoice = issued_invoice(stack, patient[0], 1000)
    desk = token_of(stack, FRONT_DESK)
    url = f"{sidecar}/api/v1/invoices/{invoice}/payment-link"

    # Razorpay makes the link but its answer is lost: the link is found by its reference_id.
    fake.lost_link_answers = 1
    first = post(url, desk)
    assert first.status_code == 200, first.text
    link = first.json()
    made = [v for v in fake.links.values() if v["reference_id"] == link["id"]]
    assert [v["id"] for v in made] == [link["gateway_link_id"]]
    # A link Razorpay made whose id carebase never stored (the sidecar stopped in between):
    # asked again, Razorpay refuses the reference_id, and the link it has is the answer.
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute(
            "update public.payment_links set gateway_link_id = null, short_url = null"
            " where id = %s",
            (link["id"],),
        )
    again = post(url, desk)
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["gateway_link_id"]) == (
        link["id"],
        link["gateway_link_id"],
    )

    # The patient pays the link on Razorpay while the front desk takes the same money at the
    # counter: the worker's cancel finds it paid, and its webhook records the payment all the
    # same, the extra money a credit on the invoice to refund.
    paid = fake.pay_link(link["gateway_link_id"])
    counter = post(
        f"{sidecar}/api/v1/payments/process",
        desk,
        {"invoiceId": invoice, "paymentMethod": "cash", "amount": 1000},
    )
    assert counter.status_code == 200, counter.text
    cancel_links(stack, gateway, razorpay[1])
    assert row(
        stack,
        "select state, outcome from private.payment_link_cancels where link_id = %s",
        link["id"],
    ) == ("done", "paid")
    body = fake.link_event("payment_link.paid", link["gateway_link_id"], paid)
    delivered = fake.deliver(f"{sidecar}/api/v1/webhooks/razorpay", body)
    assert delivered.json()["outcome"] == "applied", delivered.text
    status, amount_paid, link_status = row(
        stack,
        "select i.status::text, i.amount_paid, l.status from public.invoices i"
        " join public.payment_links l on l.invoice_id = i.id where l.id = %s",
        link["id"],
    )
    assert (status, amount_paid, link_status) == ("paid", 2000, "paid")


def deliver_email(stack: Settings, gateway: str, mailbox: Mailbox) -> None:
    settings = SidecarSettings(
        supabase_url=gateway,
        supabase_anon_key=stack.anon_key,
        supabase_service_role_key=stack.service_role_key,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,  # type: ignore[attr-defined]
        smtp_username=SMTP_LOGIN,
        smtp_password=SMTP_PASSWORD,
        smtp_tls="none",
        smtp_from="billing@nabha.carebase.test",
        delivery_timeout=5.0,
    )

    async def run() -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            worker = Worker(
                settings, SupabaseApi(settings, http), Channels.from_settings(settings, http)
            )
            while await worker.run_once():
                pass

    asyncio.run(run())


def test_the_link_is_emailed_with_consent_and_not_without(
    stack: Settings,
    gateway: str,
    sidecar: str,
    mailbox: Mailbox,
    patient: tuple[str, str],
) -> None:
    patient_id, email = patient
    invoice = issued_invoice(stack, patient_id, 800)
    desk = token_of(stack, FRONT_DESK)
    url = f"{sidecar}/api/v1/invoices/{invoice}/payment-link"

    sent = post(url, desk, {"email": True})
    assert sent.status_code == 200, sent.text
    assert sent.json()["email"]["queued"] is True
    deliver_email(stack, gateway, mailbox)
    number = row(stack, "select number from public.invoices where id = %s", invoice)[0]
    # Issuing the invoice sent its own email (event emails); the link came in a second one.
    arrived = {m["Subject"]: m for to, m in mailbox.messages if to == [email]}
    link_subject = f"Invoice {number}: INR 800.00 to pay"
    assert set(arrived) == {f"Civil Hospital Nabha: invoice {number}", link_subject}
    link = arrived[link_subject]
    text = link.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Simranjit Kaur" in text and sent.json()["short_url"] in text and "800.00" in text

    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        conn.execute(
            "with d as (insert into public.consent_documents (hospital_id, purpose, version,"
            " title, body) values (%s, 'contact_email', 90, 'test email', 'You may email me.')"
            " returning id, hospital_id)"
            " insert into public.consent_events (patient_id, hospital_id, document_id, action)"
            " select %s, d.hospital_id, d.id, 'withdrawn' from d",
            (HOSPITAL, patient_id),
        )
    refused = post(url, desk, {"email": True})
    assert refused.json()["email"] == {"queued": False, "reason": "contact_consent_withdrawn"}
    deliver_email(stack, gateway, mailbox)
    assert len([m for to, m in mailbox.messages if to == [email]]) == 2, "nothing more was sent"


@pytest.mark.parametrize(("status", "pay_qr"), [("issued", True), ("paid", False)])
def test_the_invoice_pdf_has_a_scan_to_pay_qr_only_while_payable(status: str, pay_qr: bool) -> None:
    invoice = {"number": "NAB/2026-27/000001", "status": status, "total": 500, "currency": "INR"}
    pdf = render.invoice_pdf(
        invoice,
        [],
        [],
        {"name": "Nabha Hospital"},
        "Simranjit Kaur",
        "https://verify.test/t",
        pay_url="https://rzp.io/rzp/abc123",
    )
    images = pdf.count(b"/Subtype /Image")
    assert (images, b"(https://rzp.io/rzp/abc123)" in pdf) == ((2, True) if pay_qr else (1, False))
