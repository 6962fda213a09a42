"""Paying and refunding through the sidecar with Razorpay (issue 18, item 2), as the patient,
the front desk and Razorpay see it, against the local fake of Razorpay's API and webhooks:
an online payment goes order -> hosted checkout -> signed webhook, and a replay changes
nothing; a webhook not signed with the secret over its exact body stores nothing; a request
carrying card data is refused and leaves nothing; an online refund goes through Razorpay once
per idempotency key, also when the gateway failed the first time.

Runs on the demo hospital (seed.sql): its front desk bills Balwinder Singh, who pays with his
login. What the run made is removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.settings import SidecarSettings
from tests.fakes.razorpay import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay

HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"  # Balwinder Singh
PATIENT_LOGIN = "50000000-0000-4000-8000-000000000001"
FRONT_DESK = "frontdesk@nabha.carebase.test"


@pytest.fixture(scope="module")
def razorpay() -> Iterator[tuple[FakeRazorpay, str]]:
    fake = FakeRazorpay()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture(scope="module")
def made(stack: Settings) -> Iterator[list[str]]:
    """The invoices the module made, removed afterwards with what hangs on them."""
    invoices: list[str] = []
    yield invoices
    ids = [uuid.UUID(i) for i in invoices]
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        payments = [
            row[0]
            for row in conn.execute(
                "select id from public.payments where invoice_id = any(%s)", (ids,)
            )
        ]
        refunds = [
            row[0]
            for row in conn.execute(
                "select id from public.refunds where payment_id = any(%s)", (payments,)
            )
        ]
        conn.execute(
            "delete from private.webhook_inbox where provider = 'razorpay' and external_ref in"
            " (select gateway_payment_id from public.payments where id = any(%(p)s)"
            " union select gateway_refund_id from public.refunds where id = any(%(r)s))",
            {"p": payments, "r": refunds},
        )
        conn.execute(
            "delete from public.status_history where subject_id = any(%s)",
            (ids + payments + refunds,),
        )
        conn.execute("delete from public.refunds where id = any(%s)", (refunds,))
        conn.execute("delete from public.payments where id = any(%s)", (payments,))
        conn.execute("delete from public.credit_notes where invoice_id = any(%s)", (ids,))
        conn.execute("delete from public.invoice_lines where invoice_id = any(%s)", (ids,))
        conn.execute("delete from public.invoices where id = any(%s)", (ids,))


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


def token_of(stack: Settings, login: str) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        return issue(PostgrestSession(conn).claims_for(login), stack.jwt_secret)


def issued_invoice(stack: Settings, made: list[str], amount: int) -> str:
    """An invoice of `amount` for Balwinder, issued by the front desk."""
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        session.become(session.claims_for(FRONT_DESK), "POST", "/rest/v1/rpc/issue_invoice")
        (invoice,) = conn.execute(
            "insert into public.invoices (hospital_id, patient_id) values (%s, %s) returning id",
            (HOSPITAL, PATIENT),
        ).fetchone()
        conn.execute(
            "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
            " values (%s, 'Consultation', '999312', %s)",
            (invoice, amount),
        )
        conn.execute("select public.issue_invoice(%s)", (invoice,))
    made.append(str(invoice))
    return str(invoice)


def row(stack: Settings, query: str, *args: Any) -> tuple[Any, ...]:
    with psycopg.connect(stack.dsn()) as conn:
        return conn.execute(query, args).fetchone()


def post(url: str, token: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return httpx.post(url, json=body, headers=headers, timeout=30)


def test_an_online_payment_is_an_order_the_checkout_and_the_signed_webhook_once(
    stack: Settings, sidecar: str, razorpay: tuple[FakeRazorpay, str], made: list[str]
) -> None:
    fake = razorpay[0]
    invoice = issued_invoice(stack, made, 1500)
    patient = token_of(stack, PATIENT_LOGIN)

    started = post(f"{sidecar}/api/v1/payments/process", patient, {"invoice_id": invoice})
    assert started.status_code == 200, started.text
    answer = started.json()
    checkout = answer["checkout"]
    assert (answer["status"], checkout["key"], checkout["amount"]) == ("created", KEY_ID, 150000)
    assert fake.orders[checkout["order_id"]]["amount"] == 150000
    again = post(f"{sidecar}/api/v1/payments/process", patient, {"invoiceId": invoice})
    assert again.json()["checkout"]["order_id"] == checkout["order_id"], "a second tap: one order"

    paid = fake.pay(checkout["order_id"])  # the patient pays on Razorpay's page
    webhook = f"{sidecar}/api/v1/webhooks/razorpay"
    body = fake.event("payment.captured", paid)
    first = fake.deliver(webhook, body, event_id="evt_capture_" + paid["id"])
    assert first.status_code == 200, first.text
    assert (first.json()["outcome"], first.json()["status"]) == ("applied", "captured")
    payment = row(
        stack,
        "select p.status::text, p.receipt_number, i.status::text, i.amount_paid"
        " from public.payments as p join public.invoices as i on i.id = p.invoice_id"
        " where p.gateway_payment_id = %s",
        paid["id"],
    )
    assert payment[0] == "captured" and payment[1].startswith("NAB/RCP/")
    assert payment[2:] == ("paid", 1500)

    replay = fake.deliver(webhook, body, event_id="evt_capture_" + paid["id"])
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    late_failure = fake.deliver(webhook, fake.event("payment.failed", paid))
    assert late_failure.json()["reason"] == "not_forward"
    assert row(
        stack,
        "select status::text, receipt_number from public.payments where gateway_payment_id = %s",
        paid["id"],
    ) == ("captured", payment[1]), "the replay and the late event change nothing"


def test_a_webhook_not_signed_over_its_exact_body_stores_nothing(
    stack: Settings, sidecar: str, razorpay: tuple[FakeRazorpay, str]
) -> None:
    fake = razorpay[0]
    webhook = f"{sidecar}/api/v1/webhooks/razorpay"
    body = fake.event(
        "payment.captured",
        {"id": "pay_forged", "order_id": "order_forged", "amount": 100, "currency": "INR"},
    )
    tampered = body.replace(b"100", b"999")
    attempts = {
        "no signature": fake.deliver(webhook, body, "evt_forged_1", signature=""),
        "another secret": fake.deliver(
            webhook, body, "evt_forged_2", FakeRazorpay(webhook_secret="x").signature(body)
        ),
        "another body": fake.deliver(webhook, tampered, "evt_forged_3", fake.signature(body)),
    }
    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 401)
    assert {r.json()["code"] for r in attempts.values()} == {"invalid_signature"}
    (stored,) = row(
        stack,
        "select count(*) from private.webhook_inbox where provider = 'razorpay'"
        " and event_key like 'event:evt_forged_%%'",
    )
    assert stored == 0


def test_a_request_carrying_card_data_is_refused_and_leaves_nothing(
    stack: Settings, sidecar: str, razorpay: tuple[FakeRazorpay, str], made: list[str]
) -> None:
    invoice = issued_invoice(stack, made, 350)
    front_desk = token_of(stack, FRONT_DESK)
    orders_before = len(razorpay[0].orders)
    seed_003 = {  # seed 003 "D. Process Payment", as its frontend sends it
        "invoiceId": invoice,
        "amount": 350.00,
        "paymentMethod": "Credit Card",
        "cardDetails": {
            "cardNumber": "4111111111111111",
            "expiryMonth": "12",
            "expiryYear": "2026",
            "cvv": "123",
            "cardholderName": "John Doe",
        },
    }
    refusals = [
        post(f"{sidecar}/api/v1/payments/process", front_desk, seed_003),
        post(f"{sidecar}/api/v1/payments/process", front_desk, {"invoice_id": invoice, "cvv": 1}),
        post(
            f"{sidecar}/api/v1/payments/process",
            front_desk,
            {
                "invoice_id": invoice,
                "payment_method": "card_terminal",
                "amount": 350,
                "reference": "4111 1111 1111 1111",
            },
        ),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refusals] == [(422, "card_data_refused")] * 3
    assert row(stack, "select count(*) from public.payments where invoice_id = %s", invoice) == (0,)
    assert len(razorpay[0].orders) == orders_before, "nothing reached the gateway either"

    slip = post(
        f"{sidecar}/api/v1/payments/process",
        front_desk,
        {
            "invoice_id": invoice,
            "payment_method": "card_terminal",
            "amount": 350,
            "reference": "RRN 412345678901",
        },
        key=f"counter-{invoice}",
    )
    assert slip.status_code == 200, slip.text
    assert (slip.json()["status"], slip.json()["receipt_number"][:8]) == ("captured", "NAB/RCP/")


def test_an_online_refund_goes_through_razorpay_once_per_key(
    stack: Settings, sidecar: str, razorpay: tuple[FakeRazorpay, str], made: list[str]
) -> None:
    fake = razorpay[0]
    invoice = issued_invoice(stack, made, 1000)
    patient = token_of(stack, PATIENT_LOGIN)
    front_desk = token_of(stack, FRONT_DESK)
    order = post(f"{sidecar}/api/v1/payments/process", patient, {"invoice_id": invoice})
    paid = fake.pay(order.json()["checkout"]["order_id"])
    captured = fake.deliver(f"{sidecar}/api/v1/webhooks/razorpay", fake.event("order.paid", paid))
    assert captured.json()["outcome"] == "applied", captured.text
    payment = order.json()["payment_id"]
    refund_url = f"{sidecar}/api/v1/payments/refund"
    body = {"payment_id": payment, "amount": 400, "reason": "echo not done"}

    fake.refund_failures.append(503)  # Razorpay is down the first time
    down = post(refund_url, front_desk, body, key="refund-echo-0001")
    assert (down.status_code, down.json()["code"]) == (502, "gateway_unavailable")
    retried = post(refund_url, front_desk, body, key="refund-echo-0001")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "processed"
    again = post(refund_url, front_desk, body, key="refund-echo-0001")
    assert again.json()["id"] == retried.json()["id"]
    assert again.json()["gateway_refund_id"] == retried.json()["gateway_refund_id"]
    assert len([r for r in fake.refunds.values() if r["payment_id"] == paid["id"]]) == 1
    assert fake.payments[paid["id"]]["amount_refunded"] == 40000, "refunded once, not twice"

    too_much = post(refund_url, front_desk, {**body, "amount": 601}, key="refund-echo-0002")
    assert (too_much.status_code, too_much.json()["code"]) == (422, "refund_exceeds_captured")
    no_key = post(refund_url, front_desk, body)
    assert (no_key.status_code, no_key.json()["code"]) == (422, "idempotency_key_required")
    assert row(stack, "select amount_refunded from public.payments where id = %s", payment) == (
        400,
    )
