"""CDSS (issue 20, item 2): the worker job that runs queued analyses on the model service.

The database is the queue and decides (supabase/migrations/20261210150000_cdss_analyses.sql):
`claim_cdss_analyses` leases queued analyses with their de-identified inputs (no name, MRN,
identifier, UID or date); this job sends each to the model service (one client,
sidecar/integrations/cdss_model.py) and records the answer with `complete_cdss_analysis` (the
model's name and version and the SHA-256 of the canonical JSON it sent) or the failure with
`fail_cdss_analysis` (transient: retried with backoff until CAREBASE_WORKER_MAX_ATTEMPTS;
permanent: failed). The database then tells the requesting doctor, and nobody else sees the
result before a doctor reviews it. Analyses of one batch run side by side (a model takes
minutes).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

from sidecar.integrations.cdss_model import CdssModelClient
from sidecar.integrations.outcomes import DeliveryFailed
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.jobs.polling import poll
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.cdss")


def inputs_sha256(inputs: dict[str, Any]) -> str:
    """The hash the database keeps: of the inputs as sent (canonical JSON)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class CdssWorker:
    def __init__(
        self, settings: SidecarSettings, supabase: SupabaseApi, model: CdssModelClient
    ) -> None:
        self.settings = settings
        self.supabase = supabase
        self.model = model

    async def _run(self, lease: dict[str, Any]) -> str:
        service = self.supabase.as_service()
        inputs = lease["inputs"]
        ids = {"analysis_id": lease["analysis_id"], "attempt": lease["attempts"]}
        try:
            answer = await self.model.analyze(inputs)
        except DeliveryFailed as error:
            outcome = await call_rpc(
                service,
                "fail_cdss_analysis",
                {
                    "analysis_id": lease["analysis_id"],
                    "claim_token": lease["claim_token"],
                    "error": str(error)[:500],
                    "retryable": not error.permanent,
                    "max_attempts": self.settings.worker_max_attempts,
                },
            )
            log.warning("cdss analysis failed", extra={**ids, "outcome": outcome})
            return outcome
        outcome = await call_rpc(
            service,
            "complete_cdss_analysis",
            {
                "analysis_id": lease["analysis_id"],
                "claim_token": lease["claim_token"],
                "result": {
                    "model_name": answer.model_name,
                    "model_version": answer.model_version,
                    "inputs_sha256": inputs_sha256(inputs),
                    "findings": answer.findings,
                    "confidence": answer.confidence,
                    "severity": answer.severity,
                    "recommendations": answer.recommendations,
                },
            },
        )
        log.info("cdss analysis recorded", extra={**ids, "outcome": outcome})
        return outcome

    async def run_once(self) -> int:
        """Runs one batch of queued analyses; returns how many were claimed."""
        leases = await call_rpc(
            self.supabase.as_service(),
            "claim_cdss_analyses",
            {"batch": 5, "lease_seconds": int(self.settings.cdss_model_timeout) + 60},
        )
        await asyncio.gather(*(self._run(lease) for lease in leases or []))
        return len(leases or [])

    async def run(self, stop: asyncio.Event) -> None:
        log.info("cdss worker started", extra={"model": self.model.base_url})
        await poll(
            self.run_once,
            stop,
            self.settings.worker_poll_seconds,
            log,
            "running cdss analyses failed",
        )
