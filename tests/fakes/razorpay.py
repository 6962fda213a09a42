"""A fake of Razorpay: orders, payments on its hosted checkout, refunds, and signed webhooks.

API (Basic auth `key_id:key_secret`, JSON, amounts in paise), as Razorpay's v1 answers it:
- `POST /v1/orders` `{amount, currency, receipt, notes}` -> the order `{id: "order_...",
  entity: "order", amount, amount_paid, amount_due, currency, receipt, status: "created",
  attempts, notes, created_at}`; `GET /v1/orders/{id}`;
- `GET /v1/payments/{id}`;
- `POST /v1/payments/{id}/refund` `{amount, notes, speed}` with `X-Refund-Idempotency` (the same
  key answers the same refund) -> the refund `{id: "rfnd_...", entity: "refund", amount,
  currency, payment_id, notes, status, speed_processed, created_at}`; more than what is left of
  the payment is 400;
- `POST /v1/payment_links` `{amount, currency, reference_id, description, notify, notes, ...}`
  -> the link `{id: "plink_...", entity: "payment_link", short_url, status: "created", amount,
  amount_paid, reference_id, order_id: null, ...}` (a reference_id used before is 400);
  `GET /v1/payment_links?reference_id=` -> `{payment_links: [...]}`; `GET /v1/payment_links/{id}`;
  `POST /v1/payment_links/{id}/cancel` (one not in "created", e.g. paid, is 400);
- errors: `{"error": {"code": "BAD_REQUEST_ERROR", "description", "source", "step", "reason",
  "metadata": {}, "field"}}`; bad credentials are 401 "Authentication failed".

The test drives the checkout: `pay_link(link_id)` is the patient paying a payment link (an
order made for it, paid; `link_event(kind, link_id)` its webhook body), `pay(order_id)` is the
patient paying on Razorpay's page (an authorized then captured payment, with the card's
network and last 4 digits as Razorpay keeps them), `fail(order_id)` a declined attempt;
`lost_link_answers = n` makes the next n payment links and answers 504 (the answer lost on the
way); `event(...)` builds a webhook body as Razorpay sends it and `deliver(url, body)` posts it with
`X-Razorpay-Signature` (hex HMAC-SHA256 of the raw body with the webhook secret)
and `x-razorpay-event-id`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY_ID = "rzp_test_carebasefake01"
KEY_SECRET = "fake-razorpay-key-secret"
WEBHOOK_SECRET = "fake-razorpay-webhook-secret"


def _id(prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(14))


def razorpay_error(status: int, description: str, field: str | None = None) -> JSONResponse:
    body = {
        "error": {
            "code": "BAD_REQUEST_ERROR",
            "description": description,
            "source": "business" if status == 400 else "NA",
            "step": "payment_initiation" if status == 400 else "NA",
            "reason": "input_validation_failed" if status == 400 else "NA",
            "metadata": {},
            "field": field,
        }
    }
    return JSONResponse(body, status_code=status)


class FakeRazorpay:
    def __init__(
        self,
        key_id: str = KEY_ID,
        key_secret: str = KEY_SECRET,
        webhook_secret: str = WEBHOOK_SECRET,
    ) -> None:
        self.key_id = key_id
        self.key_secret = key_secret
        self.webhook_secret = webhook_secret
        self.lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/v1/orders", self.create_order, methods=["POST"]),
                Route("/v1/orders/{id}", self.get_order, methods=["GET"]),
                Route("/v1/payments/{id}", self.get_payment, methods=["GET"]),
                Route("/v1/payments/{id}/refund", self.create_refund, methods=["POST"]),
                Route("/v1/payment_links", self.create_payment_link, methods=["POST"]),
                Route("/v1/payment_links", self.list_payment_links, methods=["GET"]),
                Route("/v1/payment_links/{id}", self.get_payment_link, methods=["GET"]),
                Route("/v1/payment_links/{id}/cancel", self.cancel_payment_link, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[str, dict[str, Any]] = {}
            self.payments: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.refund_keys: dict[str, str] = {}
            self.links: dict[str, dict[str, Any]] = {}
            self.requests: list[tuple[str, str]] = []
            # The next refunds' answer: None (processed), or an HTTP status to fail with.
            self.refund_failures: list[int] = []
            # How many next payment links are made but answered 504 (the answer lost on the way).
            self.lost_link_answers = 0

    # The API -------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.key_id) and hmac.compare_digest(
            password, self.key_secret
        )

    async def create_order(self, request: Request) -> JSONResponse:
        self.requests.append(("POST", request.url.path))
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        try:
            body = await request.json()
        except ValueError:
            return razorpay_error(400, "The request body is not valid JSON")
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 100:
            return razorpay_error(400, "The amount must be atleast INR 1.00", "amount")
        if body.get("currency", "INR") != "INR":
            return razorpay_error(400, "Currency is not supported", "currency")
        receipt = body.get("receipt")
        if receipt is not None and len(str(receipt)) > 40:
            return razorpay_error(400, "receipt: the length must be no more than 40.", "receipt")
        order = {
            "id": _id("order_"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": "INR",
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or [],
            "created_at": int(time.time()),
        }
        with self.lock:
            self.orders[order["id"]] = order
        return JSONResponse(order)

    async def get_order(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        order = self.orders.get(request.path_params["id"])
        if order is None:
            return razorpay_error(400, "The id provided does not exist", "id")
        return JSONResponse(order)

    async def get_payment(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        payment = self.payments.get(request.path_params["id"])
        if payment is None:
            return razorpay_error(400, "The id provided does not exist", "id")
        return JSONResponse(payment)

    async def create_refund(self, request: Request) -> JSONResponse:
        self.requests.append(("POST", request.url.path))
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        payment_id = request.path_params["id"]
        body = await request.json()
        key = request.headers.get("x-refund-idempotency")
        with self.lock:
            if key and key in self.refund_keys:
                return JSONResponse(self.refunds[self.refund_keys[key]])
            if self.refund_failures:
                status = self.refund_failures.pop(0)
                if status >= 500:
                    return JSONResponse(
                        {"error": {"code": "SERVER_ERROR", "description": "We are facing issues"}},
                        status,
                    )
                return razorpay_error(status, "The refund could not be processed")
            payment = self.payments.get(payment_id)
            if payment is None:
                return razorpay_error(400, "The id provided does not exist", "id")
            if payment["status"] != "captured":
                return razorpay_error(400, "Only captured payments can be refunded")
            amount = body.get("amount", payment["amount"] - payment["amount_refunded"])
            if not isinstance(amount, int) or amount <= 0:
                return razorpay_error(400, "The amount must be a positive integer", "amount")
            if amount > payment["amount"] - payment["amount_refunded"]:
                return razorpay_error(
                    400, "The refund amount provided is greater than amount captured", "amount"
                )
            payment["amount_refunded"] += amount
            payment["refund_status"] = (
                "full" if payment["amount_refunded"] == payment["amount"] else "partial"
            )
            refund = {
                "id": _id("rfnd_"),
                "entity": "refund",
                "amount": amount,
                "currency": payment["currency"],
                "payment_id": payment_id,
                "notes": body.get("notes") or [],
                "receipt": body.get("receipt"),
                "acquirer_data": {"arn": None},
                "created_at": int(time.time()),
                "batch_id": None,
                "status": "processed",
                "speed_processed": "normal",
                "speed_requested": body.get("speed", "normal"),
            }
            self.refunds[refund["id"]] = refund
            if key:
                self.refund_keys[key] = refund["id"]
        return JSONResponse(refund)

    async def create_payment_link(self, request: Request) -> JSONResponse:
        self.requests.append(("POST", request.url.path))
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        body = await request.json()
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 100:
            return razorpay_error(400, "The amount must be atleast INR 1.00", "amount")
        reference = body.get("reference_id")
        with self.lock:
            if reference and any(v["reference_id"] == reference for v in self.links.values()):
                return razorpay_error(
                    400, f"Payment Link with reference_id {reference} exists", "reference_id"
                )
            link_id = _id("plink_")
            link = {
                "id": link_id,
                "entity": "payment_link",
                "accept_partial": bool(body.get("accept_partial")),
                "amount": amount,
                "amount_paid": 0,
                "currency": body.get("currency", "INR"),
                "customer": body.get("customer") or {},
                "description": body.get("description"),
                "notes": body.get("notes") or [],
                "notify": body.get("notify") or {"sms": False, "email": False},
                "order_id": "",
                "payments": None,
                "reference_id": reference,
                "reminder_enable": bool(body.get("reminder_enable")),
                "short_url": f"https://rzp.io/rzp/{link_id[6:14]}",
                "status": "created",
                "expire_by": 0,
                "created_at": int(time.time()),
                "updated_at": int(time.time()),
            }
            self.links[link_id] = link
            if self.lost_link_answers:
                self.lost_link_answers -= 1
                return JSONResponse(
                    {"error": {"code": "SERVER_ERROR", "description": "Gateway timeout"}}, 504
                )
        return JSONResponse(link)

    async def list_payment_links(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        reference = request.query_params.get("reference_id")
        with self.lock:
            links = [
                link
                for link in self.links.values()
                if reference is None or link["reference_id"] == reference
            ]
        return JSONResponse({"payment_links": links})

    async def get_payment_link(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        link = self.links.get(request.path_params["id"])
        if link is None:
            return razorpay_error(400, "The id provided does not exist", "id")
        return JSONResponse(link)

    async def cancel_payment_link(self, request: Request) -> JSONResponse:
        self.requests.append(("POST", request.url.path))
        if not self._authorized(request):
            return razorpay_error(401, "Authentication failed")
        with self.lock:
            link = self.links.get(request.path_params["id"])
            if link is None:
                return razorpay_error(400, "The id provided does not exist", "id")
            if link["status"] != "created":
                return razorpay_error(400, f"Payment link cannot be cancelled in {link['status']}")
            link["status"] = "cancelled"
        return JSONResponse(link)

    # The checkout and webhooks ---------------------------------------------------------------
    def _attempt(self, order_id: str, status: str) -> dict[str, Any]:
        with self.lock:
            order = self.orders[order_id]
            order["attempts"] += 1
            payment = {
                "id": _id("pay_"),
                "entity": "payment",
                "amount": order["amount"],
                "currency": order["currency"],
                "status": status,
                "order_id": order_id,
                "invoice_id": None,
                "international": False,
                "method": "card",
                "amount_refunded": 0,
                "refund_status": None,
                "captured": status == "captured",
                "description": "carebase invoice",
                "card_id": _id("card_"),
                "card": {
                    "id": _id("card_"),
                    "entity": "card",
                    "name": "Harpreet Kaur",
                    "last4": "1111",
                    "network": "Visa",
                    "type": "credit",
                    "issuer": None,
                    "international": False,
                    "emi": False,
                },
                "bank": None,
                "wallet": None,
                "vpa": None,
                "email": "patient@example.test",
                "contact": "+919800010001",
                "notes": order["notes"],
                "fee": 0,
                "tax": 0,
                "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
                "error_description": "Payment declined by the bank" if status == "failed" else None,
                "created_at": int(time.time()),
            }
            self.payments[payment["id"]] = payment
            if status == "captured":
                order["amount_paid"] = order["amount"]
                order["amount_due"] = 0
                order["status"] = "paid"
            else:
                order["status"] = "attempted"
            return payment

    def pay(self, order_id: str) -> dict[str, Any]:
        """The patient pays the order on Razorpay's page: a captured payment."""
        return self._attempt(order_id, "captured")

    def pay_link(self, link_id: str) -> dict[str, Any]:
        """The patient pays a payment link on its page: an order made for it, and its captured
        payment."""
        with self.lock:
            link = self.links[link_id]
            order_id = _id("order_")
            self.orders[order_id] = {
                "id": order_id,
                "entity": "order",
                "amount": link["amount"],
                "amount_paid": 0,
                "amount_due": link["amount"],
                "currency": link["currency"],
                "receipt": link["reference_id"],
                "offer_id": None,
                "status": "created",
                "attempts": 0,
                "notes": link["notes"],
                "created_at": int(time.time()),
            }
        payment = self._attempt(order_id, "captured")
        with self.lock:
            link.update(status="paid", amount_paid=link["amount"], order_id=order_id)
        return payment

    def link_event(self, kind: str, link_id: str, payment: dict[str, Any] | None = None) -> bytes:
        """A payment_link.* webhook body: the link, and for paid its order and payment."""
        link = dict(self.links[link_id])
        if kind == "payment_link.cancelled":
            link["status"] = "cancelled"
        elif kind == "payment_link.expired":
            link["status"] = "expired"
        entities: dict[str, Any] = {"payment_link": link}
        if payment is not None:
            entities["order"] = self.orders[payment["order_id"]]
            entities["payment"] = payment
        return self.event(kind, **entities)

    def fail(self, order_id: str) -> dict[str, Any]:
        """A declined attempt on the order."""
        return self._attempt(order_id, "failed")

    def event(self, kind: str, payment: dict[str, Any] | None = None, **entities: Any) -> bytes:
        """A webhook body as Razorpay sends it: `{entity: "event", account_id, event, contains,
        payload: {payment: {entity}, order: {entity}, refund: {entity}}, created_at}`."""
        payload: dict[str, Any] = {}
        if payment is not None:
            payload["payment"] = {"entity": {**payment, "status": kind.split(".")[1]}}
            if kind == "order.paid":
                payload["payment"]["entity"]["status"] = "captured"
                payload["order"] = {"entity": self.orders[payment["order_id"]]}
        for name, entity in entities.items():
            payload[name] = {"entity": entity}
        return json.dumps(
            {
                "entity": "event",
                "account_id": "acc_CarebaseFake01",
                "event": kind,
                "contains": list(payload),
                "payload": payload,
                "created_at": int(time.time()),
            }
        ).encode()

    def signature(self, body: bytes) -> str:
        return hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()

    def deliver(
        self, url: str, body: bytes, event_id: str | None = None, signature: str | None = None
    ) -> httpx.Response:
        """Posts the event as Razorpay does (a retry sends the same event id)."""
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": signature if signature is not None else self.signature(body),
            "x-razorpay-event-id": event_id or _id("evt_"),
            "User-Agent": "Razorpay-Webhook/v1",
        }
        return httpx.post(url, content=body, headers=headers, timeout=30)
