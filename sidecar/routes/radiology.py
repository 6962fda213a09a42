"""/api/v1/scans/{id}/dicom (seed 003 GET /radiology/scans/:id/dicom): a scan's images for a
viewer, as study -> series -> instances with a signed Storage URL per instance.

The database answers the tree (rpc/scan_images: who may read it, the read logged); each URL is
signed with the caller's own token, so Storage's policies on the dicom bucket decide again.
Ordering, listing and status changes are the Supabase REST API's (rpc/order_scan,
rpc/scan_orders, PATCH /rest/v1/radiology_scans); uploads go straight to Storage.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query

from sidecar.errors import error_responses
from sidecar.integrations.supabase_api import call_rpc, signed_urls
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Radiology"])


@router.get(
    "/scans/{scan_id}/dicom",
    operation_id="scan_dicom_urls",
    summary="A scan's DICOM instances with signed URLs (care team, the patient, the admin)",
    description=(
        "Studies, series and instances as rpc/scan_images answers them (the read is logged; "
        "staff need an aal2 token), each instance with `signed_url`, valid `expires_in` "
        "seconds, for a DICOM viewer."
    ),
    responses=error_responses(401, 403, 404, 422, 502, 503),
)
async def scan_dicom(
    scan_id: UUID,
    token: CallerToken,
    supabase: Supabase,
    expires_in: int = Query(300, ge=30, le=3600, description="Seconds each URL stays valid"),
) -> dict[str, Any]:
    client = supabase.as_user(token)
    images = await call_rpc(client, "scan_images", {"scan_id": str(scan_id)})
    instances = [
        instance
        for study in images.get("studies", [])
        for series in study.get("series", [])
        for instance in series.get("instances", [])
    ]
    urls = await signed_urls(client, "dicom", [i["storage_path"] for i in instances], expires_in)
    for instance in instances:
        instance["signed_url"] = urls.get(instance["storage_path"])
    return images
