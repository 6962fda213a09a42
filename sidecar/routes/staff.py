"""/api/v1/doctors and /api/v1/pharmacists: hospital admins create staff logins with their
profile, change profiles, deactivate and reactivate (seed 000 epic C).

Reading and listing staff is the Supabase REST API's (`GET /rest/v1/doctors`); the Location
of a new record points there.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from sidecar.accounts import staff_provisioning
from sidecar.accounts.staff_records import (
    Doctor,
    DoctorUpdate,
    NewDoctor,
    NewPharmacist,
    Pharmacist,
    PharmacistUpdate,
)
from sidecar.errors import error_responses
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Staff"])

_CREATE_ERRORS = error_responses(401, 403, 409, 422, 502, 503)
_CHANGE_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 503)
_DEACTIVATE = (
    "Refuses the login's access at once (every policy reads the membership), ends every "
    "session of the login (its refresh tokens stop working, even after a reactivation) and "
    "bans it, so it cannot sign in again; an access token already issued still authenticates "
    "at the REST API until it expires (15 minutes) but reaches nothing of the hospital. A "
    "login that still holds another active membership or a patient record keeps its sessions "
    "and is not banned. The person may still become a patient through the phone login, which "
    "lifts this ban and replaces the staff password; reactivation ends those sessions again."
)


def _location_header(what: str) -> dict[str, Any]:
    return {
        "description": f"The new {what} in the Supabase REST API",
        "schema": {"type": "string", "format": "uri"},
    }


def _location(request: Request, table: str, record_id: Any) -> str:
    base = request.app.state.settings.supabase_url
    return f"{base}/rest/v1/{table}?id=eq.{record_id}"


def _changes(body: DoctorUpdate | PharmacistUpdate) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_none=True)


@router.post(
    "/doctors",
    operation_id="doctor_create",
    status_code=201,
    summary="Create a doctor's login and profile (hospital admin)",
    description="The login and the doctor's records are created together, or neither is.",
    response_model=Doctor,
    responses={
        201: {"headers": {"Location": _location_header("doctor")}},
        **_CREATE_ERRORS,
    },
)
async def create_doctor(
    body: NewDoctor, token: CallerToken, supabase: Supabase, request: Request, response: Response
) -> dict[str, Any]:
    fields = body.model_dump(mode="json", exclude_none=True, exclude={"password"})
    doctor = await staff_provisioning.provision(
        supabase, token, "begin_doctor_provisioning", fields, body.password
    )
    response.headers["Location"] = _location(request, "doctors", doctor["id"])
    return doctor


@router.put(
    "/doctors/{doctor_id}",
    operation_id="doctor_update",
    summary="Change a doctor's profile (hospital admin, or the doctor)",
    response_model=Doctor,
    responses=_CHANGE_ERRORS,
)
async def update_doctor(
    doctor_id: UUID, body: DoctorUpdate, token: CallerToken, supabase: Supabase
) -> dict[str, Any]:
    return await call_rpc(
        supabase.as_user(token), "update_doctor", {"doctor_id": str(doctor_id), **_changes(body)}
    )


@router.post(
    "/doctors/{doctor_id}/deactivate",
    operation_id="doctor_deactivate",
    summary="Deactivate a doctor and ban the login (hospital admin)",
    description=_DEACTIVATE,
    response_model=Doctor,
    responses=_CHANGE_ERRORS,
)
async def deactivate_doctor(doctor_id: UUID, token: CallerToken, supabase: Supabase) -> Any:
    return await staff_provisioning.set_active(
        supabase, token, "set_doctor_active", {"doctor_id": str(doctor_id)}, active=False
    )


@router.post(
    "/doctors/{doctor_id}/reactivate",
    operation_id="doctor_reactivate",
    summary="Reactivate a doctor and lift the ban (hospital admin)",
    response_model=Doctor,
    responses=_CHANGE_ERRORS,
)
async def reactivate_doctor(doctor_id: UUID, token: CallerToken, supabase: Supabase) -> Any:
    return await staff_provisioning.set_active(
        supabase, token, "set_doctor_active", {"doctor_id": str(doctor_id)}, active=True
    )


@router.post(
    "/pharmacists",
    operation_id="pharmacist_create",
    status_code=201,
    summary="Create a pharmacist's login and profile (hospital admin)",
    description="The login and the pharmacist's records are created together, or neither is.",
    response_model=Pharmacist,
    responses={
        201: {"headers": {"Location": _location_header("pharmacist")}},
        **_CREATE_ERRORS,
    },
)
async def create_pharmacist(
    body: NewPharmacist,
    token: CallerToken,
    supabase: Supabase,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    fields = body.model_dump(mode="json", exclude_none=True, exclude={"password"})
    pharmacist = await staff_provisioning.provision(
        supabase, token, "begin_pharmacist_provisioning", fields, body.password
    )
    response.headers["Location"] = _location(request, "pharmacists", pharmacist["id"])
    return pharmacist


@router.put(
    "/pharmacists/{pharmacist_id}",
    operation_id="pharmacist_update",
    summary="Change a pharmacist's profile (hospital admin)",
    response_model=Pharmacist,
    responses=_CHANGE_ERRORS,
)
async def update_pharmacist(
    pharmacist_id: UUID, body: PharmacistUpdate, token: CallerToken, supabase: Supabase
) -> dict[str, Any]:
    return await call_rpc(
        supabase.as_user(token),
        "update_pharmacist",
        {"pharmacist_id": str(pharmacist_id), **_changes(body)},
    )


@router.post(
    "/pharmacists/{pharmacist_id}/deactivate",
    operation_id="pharmacist_deactivate",
    summary="Deactivate a pharmacist and ban the login (hospital admin)",
    description=_DEACTIVATE,
    response_model=Pharmacist,
    responses=_CHANGE_ERRORS,
)
async def deactivate_pharmacist(pharmacist_id: UUID, token: CallerToken, supabase: Supabase) -> Any:
    return await staff_provisioning.set_active(
        supabase,
        token,
        "set_pharmacist_active",
        {"pharmacist_id": str(pharmacist_id)},
        active=False,
    )


@router.post(
    "/pharmacists/{pharmacist_id}/reactivate",
    operation_id="pharmacist_reactivate",
    summary="Reactivate a pharmacist and lift the ban (hospital admin)",
    response_model=Pharmacist,
    responses=_CHANGE_ERRORS,
)
async def reactivate_pharmacist(pharmacist_id: UUID, token: CallerToken, supabase: Supabase) -> Any:
    return await staff_provisioning.set_active(
        supabase,
        token,
        "set_pharmacist_active",
        {"pharmacist_id": str(pharmacist_id)},
        active=True,
    )
