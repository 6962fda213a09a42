"""/api/v1/reports/{report}/xlsx: a report as an Excel workbook (seed 003 §10, "Export to
CSV/Excel").

The report is the database's (rpc/report_revenue, report_appointments, report_patients), run
with the caller's own token, so it holds exactly what they may see (a hospital's admins: the
hospital; a doctor: their own figures); the sidecar only writes the rows as a spreadsheet. CSV
needs no sidecar: the same RPCs answer `Accept: text/csv` on /rest/v1.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from sidecar.errors import error_responses
from sidecar.exports import xlsx
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Reports"])

COLUMNS = {
    "revenue": ["dimension", "key", "label", "invoices", "billed", "collected", "currency"],
    "appointments": [
        "day",
        "total",
        "completed",
        "cancelled",
        "no_show",
        "average_wait_minutes",
    ],
    "patients": ["month", "new_patients", "patients_seen", "visits"],
}


@router.get(
    "/reports/{report}/xlsx",
    operation_id="report_export_xlsx",
    summary="A report as an Excel workbook (.xlsx)",
    description=(
        "revenue (grouped by `group_by`: month, service, doctor or insurer), appointments or "
        "patients, for `start_date`..`end_date` (inclusive, the hospital's days), as the "
        "caller may see it (hospital admins; a doctor their own figures). Text cells are "
        "written as text, never as formulas."
    ),
    response_class=Response,
    responses={
        200: {"content": {xlsx.MEDIA_TYPE: {}}, "description": "The workbook"},
        **error_responses(401, 403, 422, 502, 503),
    },
)
async def export_report(
    report: Literal["revenue", "appointments", "patients"],
    token: CallerToken,
    supabase: Supabase,
    hospital_id: UUID,
    start_date: date,
    end_date: date,
    group_by: Literal["month", "service", "doctor", "insurer"] = Query("month"),
) -> Response:
    params = {
        "hospital_id": str(hospital_id),
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
    }
    if report == "revenue":
        params["group_by"] = group_by
    rows = await call_rpc(supabase.as_user(token), f"report_{report}", params) or []
    header = COLUMNS[report]
    body = xlsx.workbook(
        f"{report} {start_date}", header, ([row.get(c) for c in header] for row in rows)
    )
    name = f"{report}-{start_date}-{end_date}.xlsx"
    return Response(
        body,
        media_type=xlsx.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
