"""Razorpay: orders for its hosted checkout, refunds, and what carebase needs to trust a webhook.

Card data never reaches carebase: the patient types the card (or picks UPI, net banking...) on
Razorpay's own page, opened by the app with the order created here; Razorpay tells carebase the
outcome through a signed webhook.

API (`{base}/v1`, Basic auth `key_id:key_secret`, amounts in paise):
- `POST /v1/orders` `{amount, currency, receipt, notes}` -> `{id: "order_...", status:
  "created", ...}`
- `POST /v1/payments/{id}/refund` `{amount, notes}` with header `X-Refund-Idempotency` (the
  same key answers the same refund) -> `{id: "rfnd_...", status: "pending" | "processed" | ...}`
- `POST /v1/payment_links` `{amount, currency, accept_partial, reference_id, description,
  customer, notify: {sms, email}, reminder_enable, notes, callback_url, callback_method}` ->
  `{id: "plink_...", short_url, status: "created" | "partially_paid" | "paid" | "cancelled" |
  "expired", amount, amount_paid, reference_id, ...}` (a reference_id used before is 400);
  `GET /v1/payment_links?reference_id=...` -> `{payment_links: [...]}` (the link a create whose
  answer was lost made); `GET /v1/payment_links/{id}`;
  `POST /v1/payment_links/{id}/cancel` -> the link, status "cancelled" (only a link in
  "created" can be cancelled: a paid or partially paid one is 400). A paid link sends the
  webhook `payment_link.paid` with `payload.payment_link.entity`, `payload.order.entity` and
  `payload.payment.entity` (the payment, on the link's order).
- errors: `{"error": {"code": "BAD_REQUEST_ERROR", "description", "field", "reason", ...}}`

Webhooks: `X-Razorpay-Signature` is the hex HMAC-SHA256 of the raw body with the webhook's
secret; `x-razorpay-event-id` names the event (a retry carries the same one). Checkout's own
callback carries `razorpay_signature`, the hex HMAC-SHA256 of `order_id|payment_id` with the key
secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from sidecar.integrations.outcomes import DeliveryFailed, permanent, transient

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
IDEMPOTENCY_HEADER = "X-Refund-Idempotency"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the raw body's HMAC under the webhook secret, compared in
    constant time (before anything reads the body)."""
    if not secret or not signature:
        return False
    expected = sign(secret, body).encode()
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def checkout_signature_valid(
    key_secret: str, order_id: str, payment_id: str, signature: str | None
) -> bool:
    """Checkout's `razorpay_signature` for `order_id|payment_id`, compared in constant time."""
    if not key_secret or not signature:
        return False
    expected = sign(key_secret, f"{order_id}|{payment_id}".encode())
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


def to_paise(amount: Decimal | str | float) -> int:
    """Rupees (two decimals) as Razorpay's integer paise."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(value * 100)


@dataclass(frozen=True)
class Order:
    id: str
    amount: int  # paise
    currency: str
    receipt: str | None
    status: str


@dataclass(frozen=True)
class Refund:
    id: str
    payment_id: str
    amount: int  # paise
    status: str  # pending, processed, failed


@dataclass(frozen=True)
class PaymentLink:
    id: str
    short_url: str
    amount: int  # paise
    currency: str
    status: str
    reference_id: str | None


class RazorpayClient:
    """One deployment's Razorpay account, over the sidecar's shared HTTP pool."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        key_secret: str,
        http: httpx.AsyncClient,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.http = http
        self.auth = httpx.BasicAuth(key_id, key_secret)
        self.timeout = timeout

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return await self._call("POST", path, json=body, headers=headers)

    async def _call(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}/v1{path}",
                json=json,
                params=params,
                auth=self.auth,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise transient(f"Razorpay did not answer: {error.__class__.__name__}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise transient(f"Razorpay answered {response.status_code}", "unavailable")
        try:
            data = response.json()
        except ValueError as error:
            raise transient("Razorpay's answer is not JSON") from error
        if response.status_code >= 400:
            detail = data.get("error", {}) if isinstance(data, dict) else {}
            description = detail.get("description") or f"HTTP {response.status_code}"
            code = "unauthorized" if response.status_code == 401 else "refused"
            raise permanent(f"Razorpay refused: {description}", code)
        return data

    async def create_order(
        self, amount: int, currency: str, receipt: str, notes: dict[str, str]
    ) -> Order:
        data = await self._post(
            "/orders",
            {"amount": amount, "currency": currency, "receipt": receipt[:40], "notes": notes},
        )
        return Order(
            id=str(data["id"]),
            amount=int(data["amount"]),
            currency=str(data["currency"]),
            receipt=data.get("receipt"),
            status=str(data.get("status", "")),
        )

    async def refund(
        self, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> Refund:
        """Refunds (part of) a captured payment; the same key answers the same refund."""
        data = await self._post(
            f"/payments/{payment_id}/refund",
            {"amount": amount, "notes": notes},
            headers={IDEMPOTENCY_HEADER: idempotency_key},
        )
        return Refund(
            id=str(data["id"]),
            payment_id=str(data.get("payment_id", payment_id)),
            amount=int(data["amount"]),
            status=str(data.get("status", "pending")),
        )

    async def create_payment_link(
        self,
        amount: int,
        currency: str,
        reference_id: str,
        description: str,
        notes: dict[str, str],
    ) -> PaymentLink:
        """A Payment Link for `amount`. Razorpay notifies no one (carebase sends the link itself,
        with the patient's consent) and is told nothing about the patient."""
        body: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "accept_partial": False,
            "reference_id": reference_id[:40],
            "description": description[:2048],
            "notify": {"sms": False, "email": False},
            "reminder_enable": False,
            "notes": notes,
        }
        return _payment_link(await self._post("/payment_links", body))

    async def cancel_payment_link(self, link_id: str) -> PaymentLink:
        """Cancels a link in "created"; any other (paid, cancelled, expired) is refused."""
        return _payment_link(await self._post(f"/payment_links/{link_id}/cancel", {}))

    async def get_payment_link(self, link_id: str) -> PaymentLink:
        return _payment_link(await self._call("GET", f"/payment_links/{link_id}"))

    async def find_payment_link(self, reference_id: str) -> PaymentLink | None:
        """The link made with this reference_id (unique per link), if Razorpay has one."""
        data = await self._call("GET", "/payment_links", params={"reference_id": reference_id[:40]})
        found = [
            link
            for link in data.get("payment_links") or []
            if link.get("reference_id") == reference_id[:40]
        ]
        return _payment_link(found[0]) if found else None


def _payment_link(data: dict[str, Any]) -> PaymentLink:
    return PaymentLink(
        id=str(data["id"]),
        short_url=str(data["short_url"]),
        amount=int(data["amount"]),
        currency=str(data.get("currency", "INR")),
        status=str(data.get("status", "")),
        reference_id=data.get("reference_id"),
    )


__all__ = [
    "DeliveryFailed",
    "Order",
    "PaymentLink",
    "RazorpayClient",
    "Refund",
    "checkout_signature_valid",
    "sign",
    "to_paise",
    "webhook_signature_valid",
]
