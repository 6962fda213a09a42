"""The sidecar's worker process: `carebase worker` or `python -m sidecar.jobs.worker`.

Runs the notification worker (sidecar/jobs/notifications.py), the audit anchor exporter
(sidecar/jobs/audit_anchors.py), the DICOM header ingestion (sidecar/jobs/dicom_ingestion.py),
the voice call sweep (sidecar/jobs/voice_sweep.py), the Cal.com push
(sidecar/jobs/calendar_push.py), the Cal.com reconciliation (sidecar/jobs/calendar_reconcile.py),
the CDSS analyses (sidecar/jobs/cdss.py) and the Razorpay payment link cancels
(sidecar/jobs/payment_link_cancels.py) side by side until SIGTERM or SIGINT. Without
CAREBASE_AUDIT_ANCHOR_SIGNING_KEY no anchor is exported, without VAPI_API_KEY no call is swept,
with CAREBASE_CALCOM_PUSH off nothing is pushed to Cal.com, without CALCOM_API_KEY the mirror
is not reconciled, without CAREBASE_CDSS_MODEL_URL no analysis runs, and without
RAZORPAY_KEY_ID and its secret no payment link is cancelled on Razorpay; the log says so at
start.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import httpx

from sidecar.integrations.calcom import CalcomClient
from sidecar.integrations.cdss_model import CdssModelClient
from sidecar.integrations.razorpay import RazorpayClient
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.integrations.vapi import VapiClient
from sidecar.jobs import anchor_signing
from sidecar.jobs.audit_anchors import AnchorExporter
from sidecar.jobs.calendar_push import CalendarPush
from sidecar.jobs.calendar_reconcile import CalendarReconciler
from sidecar.jobs.cdss import CdssWorker
from sidecar.jobs.dicom_ingestion import DicomIngestion
from sidecar.jobs.notifications import Channels, Worker
from sidecar.jobs.payment_link_cancels import PaymentLinkCancels
from sidecar.jobs.voice_sweep import VoiceSweep
from sidecar.observability import configure_logging
from sidecar.settings import SidecarSettings, get_settings

log = logging.getLogger("sidecar.worker")


async def serve(settings: SidecarSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with httpx.AsyncClient(timeout=settings.delivery_timeout) as http:
        supabase = SupabaseApi(settings, http)
        jobs = [
            Worker(settings, supabase, Channels.from_settings(settings, http)).run(stop),
            DicomIngestion(settings, supabase).run(stop),
        ]
        if not settings.audit_anchor_signing_key:
            log.error(
                "CAREBASE_AUDIT_ANCHOR_SIGNING_KEY is not set: the audit chain is not anchored "
                "outside the database"
            )
        else:
            try:
                jobs.append(AnchorExporter.from_settings(settings, supabase).run(stop))
            except anchor_signing.AnchorKeyError as error:
                log.error("the audit chain is not anchored: %s", error)
        if settings.vapi_api_key:
            vapi = VapiClient(settings.vapi_base_url, settings.vapi_api_key, http)
            jobs.append(VoiceSweep(settings, supabase, vapi).run(stop))
        else:
            log.warning(
                "VAPI_API_KEY is not set: voice call reports that never arrived are not swept"
            )
        if settings.calcom_push:
            jobs.append(CalendarPush(settings, supabase, http).run(stop))
        else:
            log.warning(
                "CAREBASE_CALCOM_PUSH is off: appointments and working hours are not pushed "
                "to Cal.com (they wait, pending)"
            )
        if settings.calcom_api_key:
            calcom = CalcomClient(settings.calcom_base_url, settings.calcom_api_key, http)
            jobs.append(CalendarReconciler(settings, supabase, calcom).run(stop))
        else:
            log.warning("CALCOM_API_KEY is not set: the Cal.com mirror is not reconciled")
        if settings.cdss_model_base_url:
            model = CdssModelClient(
                settings.cdss_model_base_url,
                settings.cdss_model_api_key,
                http,
                settings.cdss_model_timeout,
            )
            jobs.append(CdssWorker(settings, supabase, model).run(stop))
        else:
            log.warning("CAREBASE_CDSS_MODEL_URL is not set: CDSS analyses stay queued")
        if settings.razorpay_key_id and settings.razorpay_key_secret:
            gateway = RazorpayClient(
                settings.razorpay_base_url,
                settings.razorpay_key_id,
                settings.razorpay_key_secret,
                http,
                settings.razorpay_timeout,
            )
            jobs.append(PaymentLinkCancels(settings, supabase, gateway).run(stop))
        else:
            log.warning(
                "RAZORPAY_KEY_ID is not set: payment links cancelled in carebase are not "
                "cancelled on Razorpay (they wait, queued)"
            )
        await asyncio.gather(*jobs)
    log.info("worker stopped")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
