"""/api/v1/payments: paying and refunding invoices (seed 003 /payments/process, /payments/refund).

carebase never receives card data (PCI DSS). Every request here is read for card fields
(`cardNumber`, `cvv`, `expiry`...) or a value that reads as a card number (13-19 digits passing
the Luhn check) before anything else: such a request is refused with 422 `card_data_refused`,
and nothing of it is stored or logged. Cards are typed on Razorpay's hosted checkout, or on the
counter's card machine.

- `process`: an invoice paid online gets a Razorpay order for what is due
  (rpc/begin_online_payment with the caller's token, then Razorpay's `POST /v1/orders`); the app
  opens Razorpay's checkout with it, and the signed webhook records the outcome. A counter payment
  (cash, UPI, the card machine...) is recorded at once (rpc/record_payment) with its receipt number.
- `refund`: rpc/request_refund with the caller's token (the database keeps every refund of a
  payment within what was captured, one per idempotency key); an online payment's refund is
  then sent to Razorpay with that refund's id as `X-Refund-Idempotency`, so a retried request
  never refunds twice.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from postgrest.exceptions import APIError
from pydantic import BaseModel, ConfigDict, Field

from sidecar.errors import ApiError, database_error, error_responses
from sidecar.integrations import razorpay
from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import CallerToken, Supabase

# Field names (lower case, without `_` and `-`) that only card data has.
CARD_FIELDS = frozenset(
    {
        "card",
        "cardnumber",
        "carddetails",
        "cardno",
        "pan",
        "primaryaccountnumber",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cid",
        "securitycode",
        "cardsecuritycode",
        "expiry",
        "expirydate",
        "expiration",
        "expirationdate",
        "expirymonth",
        "expiryyear",
        "expmonth",
        "expyear",
        "cardexpiry",
        "track",
        "trackdata",
        "track1",
        "track2",
        "pin",
    }
)
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,18}")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _reads_as_card_number(value: str) -> bool:
    return any(
        13 <= len(digits := re.sub(r"[ -]", "", match.group())) <= 19 and _luhn(digits)
        for match in _DIGIT_RUN.finditer(value)
    )


def carries_card_data(value: Any) -> bool:
    """Whether a JSON value holds a card field or something that reads as a card number."""
    if isinstance(value, dict):
        return any(
            re.sub(r"[_\-\s]", "", str(key)).lower() in CARD_FIELDS or carries_card_data(inner)
            for key, inner in value.items()
        )
    if isinstance(value, list):
        return any(carries_card_data(inner) for inner in value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return _reads_as_card_number(str(value))
    return False


async def refuse_card_data(request: Request) -> None:
    """Reads the body before its model does: card data is refused whatever else it holds."""
    raw = await request.body()
    if not raw:
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return  # the body's model answers 422
    if carries_card_data(body):
        raise ApiError(
            422,
            "card_data_refused",
            "carebase never accepts card numbers, CVVs or expiry dates: pay by card on the "
            "payment page (payment_method online) or at the counter's card machine",
        )


router = APIRouter(tags=["Payments"], dependencies=[Depends(refuse_card_data)])

CounterMethod = Literal["cash", "upi", "card_terminal", "bank_transfer", "cheque", "insurance"]


class ProcessPayment(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    invoice_id: UUID = Field(alias="invoiceId", description="The issued invoice to pay")
    payment_method: Literal["online"] | CounterMethod = Field(
        "online",
        alias="paymentMethod",
        description="online (Razorpay's hosted checkout), or a counter method (front desk)",
    )
    amount: float | None = Field(
        None, gt=0, le=10_000_000, description="A counter payment's amount; online pays what is due"
    )
    reference: str | None = Field(
        None, max_length=100, description="The counter's slip or transaction reference"
    )
    payer: Literal["patient", "insurer"] = "patient"


class Checkout(BaseModel):
    key: str = Field(description="Razorpay key id for the checkout")
    order_id: str
    amount: int = Field(description="In paise")
    currency: str


class PaymentAnswer(BaseModel):
    payment_id: UUID
    status: str = Field(description="created (online, waiting for the patient) or captured")
    amount: float
    currency: str
    receipt_number: str | None = None
    checkout: Checkout | None = Field(
        None, description="For online: open Razorpay's checkout with these"
    )


class RefundRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    payment_id: UUID = Field(alias="paymentId")
    amount: float = Field(gt=0, le=10_000_000)
    reason: str = Field(min_length=1, max_length=500)


class RefundAnswer(BaseModel):
    id: UUID
    payment_id: UUID
    amount: float
    currency: str
    status: str = Field(description="processed, pending (Razorpay is paying it back) or failed")
    gateway_refund_id: str | None = None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="8-200 characters; the same key answers the same payment or refund",
    ),
]


def _gateway(request: Request) -> razorpay.RazorpayClient:
    settings = request.app.state.settings
    if not (settings.razorpay_key_id and settings.razorpay_key_secret):
        raise ApiError(
            503, "not_configured", "online payments are not set up (RAZORPAY_KEY_ID and secret)"
        )
    return razorpay.RazorpayClient(
        settings.razorpay_base_url,
        settings.razorpay_key_id,
        settings.razorpay_key_secret,
        request.app.state.http,
        settings.razorpay_timeout,
    )


def _gateway_error(error: DeliveryFailed) -> ApiError:
    if error.permanent and error.code != "unauthorized":
        return ApiError(502, "gateway_refused", str(error))
    return ApiError(
        502, "gateway_unavailable", f"{error}; try again (the same request is safe to repeat)"
    )


@router.post(
    "/payments/process",
    operation_id="payments_process",
    summary="Pay an invoice: a Razorpay order for its hosted checkout, or a counter payment",
    description=(
        "`payment_method` online (the patient, or the front desk for them): a Razorpay order "
        "for what is due, to open Razorpay's checkout with (`checkout`); the webhook records "
        "the payment. A counter method (front desk, hospital admin): the payment is captured "
        "at once with its receipt number. Card numbers, CVVs and expiry dates are refused "
        "(422 card_data_refused) and never stored."
    ),
    response_model=PaymentAnswer,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
async def process_payment(
    request: Request,
    body: ProcessPayment,
    token: CallerToken,
    supabase: Supabase,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    user = supabase.as_user(token)
    if body.payment_method != "online":
        if body.amount is None:
            raise ApiError(422, "amount_required", "a counter payment names its amount")
        payment = await call_rpc(
            user,
            "record_payment",
            {
                "invoice_id": str(body.invoice_id),
                "amount": body.amount,
                "method": body.payment_method,
                "reference": body.reference,
                "payer": body.payer,
                "idempotency_key": idempotency_key,
            },
        )
        return _payment_answer(payment)
    gateway = _gateway(request)
    payment = await call_rpc(user, "begin_online_payment", {"invoice_id": str(body.invoice_id)})
    if not payment.get("gateway_order_id"):
        try:
            order = await gateway.create_order(
                razorpay.to_paise(payment["amount"]),
                payment["currency"],
                receipt=payment["id"],
                notes={"payment_id": payment["id"], "invoice_id": payment["invoice_id"]},
            )
        except DeliveryFailed as error:
            raise _gateway_error(error) from error
        try:
            payment = await call_rpc(
                supabase.as_service(),
                "attach_gateway_order",
                {"payment_id": payment["id"], "gateway_order_id": order.id},
            )
        except ApiError as error:
            if error.code != "order_attached":
                raise
            # A second tap got there first: its order is the payment's.
            payment = await call_rpc(
                user, "begin_online_payment", {"invoice_id": str(body.invoice_id)}
            )
    answer = _payment_answer(payment)
    answer["checkout"] = {
        "key": gateway.key_id,
        "order_id": payment["gateway_order_id"],
        "amount": razorpay.to_paise(payment["amount"]),
        "currency": payment["currency"],
    }
    return answer


def _payment_answer(payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "payment_id": payment["id"],
        "status": payment["status"],
        "amount": payment["amount"],
        "currency": payment["currency"],
        "receipt_number": payment.get("receipt_number"),
    }


@router.post(
    "/payments/refund",
    operation_id="payments_refund",
    summary="Refund (part of) a payment, once per Idempotency-Key",
    description=(
        "Front desk, hospital admin. Never more than what is left of the payment, across "
        "partial and concurrent refunds (422 refund_exceeds_captured). A counter payment's "
        "refund is processed at once; an online payment's goes to Razorpay (processed, or "
        "pending until its webhook). Repeating the request with the same `Idempotency-Key` "
        "answers the same refund and never refunds twice; a gateway that does not answer is "
        "502 gateway_unavailable (repeat it), one that refuses is 502 gateway_refused (the "
        "amount is refundable again)."
    ),
    response_model=RefundAnswer,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
async def refund_payment(
    request: Request,
    body: RefundRequest,
    token: CallerToken,
    supabase: Supabase,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    if not idempotency_key:
        raise ApiError(
            422, "idempotency_key_required", "send an Idempotency-Key header (8-200 characters)"
        )
    user = supabase.as_user(token)
    refund = await call_rpc(
        user,
        "request_refund",
        {
            "payment_id": str(body.payment_id),
            "amount": body.amount,
            "reason": body.reason,
            "idempotency_key": idempotency_key,
        },
    )
    if refund["status"] != "pending":
        return refund
    found = (
        await user.table("payments")
        .select("gateway,gateway_payment_id")
        .eq("id", str(body.payment_id))
        .execute()
    ).data
    if not found or not found[0].get("gateway_payment_id"):
        return refund
    gateway = _gateway(request)
    service = supabase.as_service()
    try:
        sent = await gateway.refund(
            found[0]["gateway_payment_id"],
            razorpay.to_paise(refund["amount"]),
            idempotency_key=refund["id"],
            notes={"refund_id": refund["id"]},
        )
    except DeliveryFailed as error:
        if error.permanent and error.code != "unauthorized":
            await call_rpc(
                service,
                "record_gateway_refund",
                {"refund_id": refund["id"], "gateway_refund_id": None, "outcome": "failed"},
            )
        raise _gateway_error(error) from error
    outcome = sent.status if sent.status in ("processed", "failed") else "pending"
    return await call_rpc(
        service,
        "record_gateway_refund",
        {"refund_id": refund["id"], "gateway_refund_id": sent.id, "outcome": outcome},
    )


class PaymentLinkRequest(BaseModel):
    email: bool = Field(
        False,
        description="Also email the link to the patient (when they have an email address and "
        "have not withdrawn contact by email), through the communications outbox",
    )


class EmailOutcome(BaseModel):
    queued: bool
    reason: str | None = Field(
        None, description="no_open_link, patient_has_no_email or contact_consent_withdrawn"
    )
    message_id: UUID | None = None


class PaymentLinkAnswer(BaseModel):
    id: UUID
    invoice_id: UUID
    status: str = Field(description="created (open), paid, cancelled or expired")
    amount: float = Field(description="The outstanding patient share when the link was opened")
    currency: str
    short_url: str = Field(description="Razorpay's payment page for the patient")
    gateway_link_id: str = Field(description="Razorpay's plink_ id")
    reused: bool = Field(description="The invoice's open link, asked for again")
    email: EmailOutcome | None = None


async def _razorpay_link(
    gateway: razorpay.RazorpayClient, link: dict[str, Any], description: str
) -> razorpay.PaymentLink:
    """Razorpay's link for carebase's, made with the link's id as its reference_id (unique per
    link on Razorpay). When the create fails (its answer lost on the way, or Razorpay refusing
    the reference_id because an earlier try whose link was never stored used it), the link
    that reference already has is looked up and used: a retry never makes a second link."""
    try:
        return await gateway.create_payment_link(
            razorpay.to_paise(link["amount"]),
            link["currency"],
            reference_id=link["id"],
            description=description,
            notes={"payment_link_id": link["id"], "invoice_id": link["invoice_id"]},
        )
    except DeliveryFailed as error:
        failure = error
    if failure.code != "unauthorized":
        with contextlib.suppress(DeliveryFailed):
            made = await gateway.find_payment_link(link["id"])
            if made is not None and made.amount == razorpay.to_paise(link["amount"]):
                return made
    raise _gateway_error(failure) from failure


@router.post(
    "/invoices/{invoice_id}/payment-link",
    operation_id="invoice_payment_link",
    summary="Open (or reuse) the invoice's Razorpay Payment Link, and optionally email it",
    description=(
        "Front desk, hospital admin of the invoice's hospital (another's invoice, or one out of "
        "reach: 404). One open link per invoice, for its outstanding patient share: asked again, "
        "the same link (also after a failure: Razorpay's link made by the first try is found by "
        "its reference_id); when what is due changed since, the old link is cancelled (on "
        "Razorpay too, by the worker) and a new one opened. The patient pays on Razorpay's "
        "page (never a card number here); the payment_link.paid webhook records the payment "
        "and its receipt number. With `email`, the link is queued to the patient's email "
        "(template payment_link) when they have an address and have not withdrawn contact by "
        "email."
    ),
    response_model=PaymentLinkAnswer,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 409, 422, 502, 503),
)
async def invoice_payment_link(
    request: Request,
    invoice_id: UUID,
    token: CallerToken,
    supabase: Supabase,
    body: PaymentLinkRequest | None = None,
) -> dict[str, Any]:
    gateway = _gateway(request)
    user = supabase.as_user(token)
    try:
        found = (
            await user.table("invoices").select("id,number").eq("id", str(invoice_id)).execute()
        ).data
    except APIError as error:
        raise database_error(error) from error
    if not found:
        raise ApiError(404, "invoice_not_found", "invoice not found")
    # A superseded link is cancelled on Razorpay by the worker (rpc/claim_payment_link_cancels).
    opened = await call_rpc(user, "open_payment_link", {"invoice_id": str(invoice_id)})
    link = opened["link"]
    if not link.get("gateway_link_id"):
        made = await _razorpay_link(gateway, link, f"Invoice {found[0]['number']}")
        link = await call_rpc(
            supabase.as_service(),
            "attach_payment_link",
            {"link_id": link["id"], "gateway_link_id": made.id, "short_url": made.short_url},
        )
    answer = {
        key: link[key] for key in ("id", "invoice_id", "status", "amount", "currency", "short_url")
    }
    answer |= {"gateway_link_id": link["gateway_link_id"], "reused": opened["reused"]}
    if body is not None and body.email:
        answer["email"] = await call_rpc(
            user, "email_payment_link", {"invoice_id": str(invoice_id)}
        )
    return answer
