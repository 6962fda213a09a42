"""Payment links cancelled on Razorpay (issue 18): the worker job that makes a link carebase no
longer needs unpayable on Razorpay's page too, so that a patient cannot pay twice.

The database says what to do: a link cancelled in carebase (its invoice paid another way, or
cancelled by a credit note, or what is due changed: private.close_stale_payment_link, or
superseded by rpc/open_payment_link) is queued. `claim_payment_link_cancels` leases them; for
each this job

* cancels the link on Razorpay (`POST /v1/payment_links/{id}/cancel`); a link whose Razorpay id
  carebase never stored (the create's answer was lost) is first looked up by its reference_id,
  the link's id (none: `not_created`);
* when Razorpay refuses (only a link in "created" can be cancelled), reads the link: paid or
  partially paid (the patient paid first: the payment_link.paid webhook records the payment; what
  it pays beyond what is due stays on the invoice as a credit the front desk can refund),
  cancelled or expired there already;

and reports with `complete_payment_link_cancel`, or `fail_payment_link_cancel` (transient:
retried with backoff; after max_attempts, or a refusal it cannot explain: failed).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.razorpay import RazorpayClient
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.jobs.polling import poll
from sidecar.observability import request_id
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.payment_link_cancels")

# Razorpay's link status -> what the cancel found.
SETTLED = {
    "cancelled": "cancelled",
    "expired": "expired",
    "paid": "paid",
    "partially_paid": "paid",
}


class PaymentLinkCancels:
    def __init__(
        self, settings: SidecarSettings, supabase: SupabaseApi, razorpay: RazorpayClient
    ) -> None:
        self.settings = settings
        self.supabase = supabase
        self.razorpay = razorpay
        self.name = f"payment-link-cancels-{uuid.uuid4().hex[:8]}"

    async def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        return await call_rpc(self.supabase.as_service(), function, params)

    async def run_once(self) -> int:
        """Claims and settles one batch; returns how many it claimed."""
        token = request_id.set(f"{self.name}-{uuid.uuid4().hex[:12]}")
        try:
            rows = (
                await self._rpc(
                    "claim_payment_link_cancels",
                    {
                        "batch": self.settings.worker_batch_size,
                        "lease": f"{self.settings.worker_lease_seconds} seconds",
                        "max_attempts": self.settings.worker_max_attempts,
                    },
                )
                or []
            )
            for row in rows:
                try:
                    await self._settle(row)
                except Exception:
                    # Left claimed: claimed again when its lease ends.
                    log.exception("cancelling a payment link failed", extra=row)
            return len(rows)
        finally:
            request_id.reset(token)

    async def cancel(self, row: dict[str, Any]) -> str:
        """Makes the link unpayable on Razorpay; answers what Razorpay then holds."""
        gateway_id = row.get("gateway_link_id")
        if not gateway_id:
            found = await self.razorpay.find_payment_link(row["link_id"])
            if found is None:
                return "not_created"
            gateway_id = found.id
        try:
            await self.razorpay.cancel_payment_link(gateway_id)
            return "cancelled"
        except DeliveryFailed as refused:
            if not refused.permanent or refused.code == "unauthorized":
                raise
            now = await self.razorpay.get_payment_link(gateway_id)
            if now.status in SETTLED:
                return SETTLED[now.status]
            raise

    async def _settle(self, row: dict[str, Any]) -> None:
        ids = {"link": row["link_id"], "attempt": row["attempts"]}
        try:
            outcome = await self.cancel(row)
        except DeliveryFailed as failure:
            state = await self._rpc(
                "fail_payment_link_cancel",
                {
                    "link_id": row["link_id"],
                    "claim_token": row["claim_token"],
                    "error": str(failure),
                    "permanent": failure.permanent,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            log.warning(
                "cancelling a payment link on Razorpay failed",
                extra={**ids, "error": str(failure), "now": state},
            )
            return
        state = await self._rpc(
            "complete_payment_link_cancel",
            {"link_id": row["link_id"], "claim_token": row["claim_token"], "outcome": outcome},
        )
        if outcome == "paid":
            log.warning(
                "a payment link carebase cancelled was paid on Razorpay first: its webhook "
                "records the payment",
                extra=ids,
            )
        log.info("payment link cancel done", extra={**ids, "outcome": outcome, "now": state})

    async def run(self, stop: asyncio.Event) -> None:
        log.info("payment link cancels started", extra={"worker": self.name})
        await poll(
            self.run_once,
            stop,
            self.settings.worker_poll_seconds,
            log,
            "claiming payment link cancels failed",
        )
