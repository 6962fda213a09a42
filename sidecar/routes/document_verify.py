"""GET /api/v1/verify/{token}: what a printed invoice's or prescription's QR code opens.

Public and rate-limited (per client address). The token names only the document's kind, id and
content hash, HMAC-signed (sidecar/documents/tokens.py); a tampered one is refused (400).
rpc/document_verification, with the service role (the one lookup this route needs), answers
the document's current status and content hash: a cancelled or revoked document, or one whose
contents changed since it was printed, shows as such. Never patient data.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sidecar.documents import tokens
from sidecar.errors import ApiError, error_responses
from sidecar.routes.dependencies import Supabase
from sidecar.routes.documents import document_state, signing_secret

router = APIRouter(tags=["Documents"])

# Statuses after which a document no longer vouches for anything.
VOID = {"invoice": {"cancelled", "draft"}, "prescription": {"cancelled", "denied", "expired"}}


class Verification(BaseModel):
    valid: bool = Field(description="Issued, not cancelled or revoked, and unchanged since printed")
    kind: str = Field(description="invoice or prescription")
    status: str
    content_matches: bool = Field(description="False: the document changed since it was printed")
    issued_at: str | None = None
    hospital: str | None = None
    number: str | None = Field(None, description="An invoice's number")
    doctor: str | None = Field(None, description="A prescription's doctor")
    message: str


@router.get(
    "/verify/{token}",
    operation_id="document_verify",
    summary="Verify a printed invoice or prescription by its QR code's token",
    description=(
        "Public. Answers whether the document is valid, its status, date, hospital and "
        "number (invoice) or doctor (prescription); never patient data. A token not signed "
        "by this deployment is refused (400)."
    ),
    response_model=Verification,
    responses=error_responses(400, 404, 422, 429, 502, 503),
)
async def verify_document(request: Request, token: str, supabase: Supabase) -> Verification:
    secret = signing_secret(request)
    try:
        ref = tokens.verify(secret, token)
    except tokens.InvalidToken as error:
        raise ApiError(400, "invalid_token", "this is not a genuine document code") from error
    state = await document_state(supabase, ref.kind, ref.id)
    status = str(state["status"])
    # A token printed before version 2 carries the sealed bytes' hash (tokens.py).
    matches = (
        state["content_hash"] == ref.content_hash
        if ref.version == tokens.VERSION
        else ref.content_hash in (state.get("content_hashes_v1") or [])
    )
    void = status in VOID[ref.kind]
    issued_on = str(state.get("issued_at") or "")[:10]
    what = (
        f"{ref.kind} {state.get('number')}"
        if ref.kind == "invoice"
        else f"prescription issued by {state.get('doctor')}"
    )
    if not matches:
        message = f"changed: this {ref.kind} was altered after it was printed"
    elif void:
        message = f"{status.upper()}: {what} on {issued_on} at {state.get('hospital')}"
    else:
        message = (
            f"valid {what} on {issued_on} at {state.get('hospital')}, "
            f"status {status.replace('_', ' ')}"
        )
    return Verification(
        valid=matches and not void,
        kind=ref.kind,
        status=status,
        content_matches=matches,
        issued_at=state.get("issued_at"),
        hospital=state.get("hospital"),
        number=state.get("number") if ref.kind == "invoice" else None,
        doctor=state.get("doctor") if ref.kind == "prescription" else None,
        message=message,
    )
