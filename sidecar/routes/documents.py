"""Invoice and prescription PDFs with a verification QR code (issue 18 item 5, seed 003 §8).

GET /api/v1/invoices/{id}/pdf and /prescriptions/{id}/pdf read the record with the caller's
own token first (RLS decides: another patient's invoice is a 404), then render the PDF (or
reuse the one already stored for exactly the same content), keep it in the private Storage
bucket `document-pdfs` and answer a short-lived signed URL to it.

GET /api/v1/verify/{token} (routes/document_verify.py) is public and rate-limited: the QR
code's token names only the
document's kind, id and content hash, HMAC-signed (sidecar/documents/tokens.py). A tampered
token is refused; otherwise rpc/document_verification (service role only, the one lookup the
route needs) answers the document's current status and content hash, so a cancelled or
revoked document, or one whose contents changed since it was printed, shows as such.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from postgrest.exceptions import APIError
from pydantic import BaseModel, Field

from sidecar.documents import render, tokens
from sidecar.errors import ApiError, database_error, error_responses
from sidecar.integrations.supabase_api import call_rpc
from sidecar.routes.dependencies import CallerToken, Supabase


async def _rows(query: Any) -> list[dict[str, Any]]:
    """The rows a query answers with the caller's own client; a refusal (a bad or expired
    token, the database down) is the same error answer as everywhere else, never a 500."""
    try:
        return (await query.execute()).data
    except APIError as error:
        raise database_error(error) from error


router = APIRouter(tags=["Documents"])

BUCKET = "document-pdfs"


class SignedPdf(BaseModel):
    url: str = Field(description="A signed URL to the PDF, valid for `expires_in` seconds")
    expires_in: int
    verify_url: str = Field(description="What the PDF's QR code opens")


def signing_secret(request: Request) -> str:
    secret = request.app.state.settings.document_signing_secret
    if not secret:
        raise ApiError(503, "documents_unconfigured", "document signing is not configured")
    return secret


def _verify_url(request: Request, token: str) -> str:
    base = request.app.state.settings.sidecar_public_url.rstrip("/") or str(
        request.base_url
    ).rstrip("/")
    return f"{base}/api/v1/verify/{token}"


async def document_state(supabase: Supabase, kind: str, document_id: UUID) -> dict[str, Any]:
    state = await call_rpc(
        supabase.as_service(),
        "document_verification",
        {"kind": kind, "document_id": str(document_id)},
    )
    if not state:
        raise ApiError(404, "document_not_found", f"no such {kind}")
    return state


async def _stored_pdf(
    request: Request, supabase: Supabase, kind: str, document_id: UUID, inputs: Any, build: Any
) -> str:
    """The signed URL of the PDF of these inputs: the stored one, else rendered and stored."""
    settings = request.app.state.settings
    http = supabase.http
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    path = f"{kind}s/{document_id}/{key}.pdf"
    base = f"{settings.supabase_url.rstrip('/')}/storage/v1"
    headers = {
        "Authorization": f"Bearer {settings.supabase_service_role_key}",
        "apikey": settings.supabase_service_role_key,
    }

    async def sign() -> Any:
        return await http.post(
            f"{base}/object/sign/{BUCKET}/{path}",
            json={"expiresIn": settings.pdf_url_ttl},
            headers=headers,
            timeout=settings.supabase_timeout,
        )

    signed = await sign()
    if signed.status_code != 200:
        try:
            body = await asyncio.to_thread(build)
        except render.FontsMissing as error:
            raise ApiError(503, "pdf_fonts_missing", str(error)) from error
        stored = await http.post(
            f"{base}/object/{BUCKET}/{path}",
            content=body,
            headers={**headers, "Content-Type": "application/pdf", "x-upsert": "true"},
            timeout=settings.supabase_timeout,
        )
        if stored.status_code not in (200, 201):
            raise ApiError(502, "storage_failed", "the PDF could not be stored")
        signed = await sign()
        if signed.status_code != 200:
            raise ApiError(502, "storage_failed", "the PDF could not be signed")
    return f"{base}{signed.json()['signedURL']}"


async def _patient_name(client: Any, patient_id: str) -> str:
    rows = await _rows(client.table("patients").select("full_name").eq("id", patient_id))
    return rows[0]["full_name"] if rows else ""


@router.get(
    "/invoices/{invoice_id}/pdf",
    operation_id="invoice_pdf",
    summary="An invoice as a PDF (a short-lived signed URL)",
    description=(
        "For those who may read the invoice (its patient, the hospital's billing staff): "
        "letterhead, number, date, lines with GST, the insurer's and patient's shares, the "
        "payments and a QR code that verifies it. A cancelled invoice says CANCELLED."
    ),
    response_model=SignedPdf,
    responses=error_responses(401, 404, 422, 502, 503),
)
async def invoice_pdf(
    request: Request, invoice_id: UUID, token: CallerToken, supabase: Supabase
) -> SignedPdf:
    secret = signing_secret(request)
    client = supabase.as_user(token)
    rows = await _rows(client.table("invoices").select("*").eq("id", str(invoice_id)))
    if not rows:
        raise ApiError(404, "invoice_not_found", "no such invoice, or not yours to read")
    invoice = rows[0]
    lines = await _rows(
        client.table("invoice_lines").select("*").eq("invoice_id", str(invoice_id)).order("line_no")
    )
    payments = await _rows(
        client.table("payments")
        .select("method,status,amount,captured_at,created_at")
        .eq("invoice_id", str(invoice_id))
        .order("created_at")
    )
    pay_url = None
    if invoice["status"] in render.PAYABLE:
        links = await _rows(
            client.table("payment_links")
            .select("short_url")
            .eq("invoice_id", str(invoice_id))
            .eq("status", "created")
            .not_.is_("short_url", "null")
        )
        pay_url = links[0]["short_url"] if links else None
    patient = await _patient_name(client, invoice["patient_id"])
    state = await document_state(supabase, "invoice", invoice_id)
    verify_token = tokens.sign(
        secret, tokens.DocumentRef("invoice", invoice_id, state["content_hash"])
    )
    verify_url = _verify_url(request, verify_token)
    inputs = [invoice, lines, payments, state["letterhead"], patient, verify_url]
    if pay_url:
        inputs.append(pay_url)
    url = await _stored_pdf(
        request,
        supabase,
        "invoice",
        invoice_id,
        inputs,
        lambda: render.invoice_pdf(
            invoice,
            lines,
            payments,
            state["letterhead"],
            patient,
            verify_url,
            request.app.state.settings.pdf_font_dir,
            pay_url,
        ),
    )
    ttl = request.app.state.settings.pdf_url_ttl
    return SignedPdf(url=url, expires_in=ttl, verify_url=verify_url)


@router.get(
    "/prescriptions/{prescription_id}/pdf",
    operation_id="prescription_pdf",
    summary="A prescription as a PDF (a short-lived signed URL)",
    description=(
        "For those who may read the prescription (its patient, its doctor, its pharmacy; the "
        "read is logged): letterhead, doctor, patient, medications and a QR code that "
        "verifies it."
    ),
    response_model=SignedPdf,
    responses=error_responses(401, 403, 404, 422, 502, 503),
)
async def prescription_pdf(
    request: Request, prescription_id: UUID, token: CallerToken, supabase: Supabase
) -> SignedPdf:
    secret = signing_secret(request)
    client = supabase.as_user(token)
    rows = await call_rpc(
        client, "read_prescriptions", {"prescription_ids": [str(prescription_id)]}
    )
    if not rows:
        raise ApiError(404, "prescription_not_found", "no such prescription, or not yours to read")
    prescription = rows[0]
    if prescription.get("undecryptable"):
        raise ApiError(
            503, "prescription_unreadable", "the prescription's contents cannot be decrypted now"
        )
    patient = await _patient_name(client, prescription["patient_id"])
    state = await document_state(supabase, "prescription", prescription_id)
    verify_token = tokens.sign(
        secret, tokens.DocumentRef("prescription", prescription_id, state["content_hash"])
    )
    verify_url = _verify_url(request, verify_token)
    inputs = [prescription, state["letterhead"], state["prescriber"], patient, verify_url]
    url = await _stored_pdf(
        request,
        supabase,
        "prescription",
        prescription_id,
        inputs,
        lambda: render.prescription_pdf(
            prescription,
            state["letterhead"],
            state["prescriber"],
            patient,
            verify_url,
            request.app.state.settings.pdf_font_dir,
        ),
    )
    ttl = request.app.state.settings.pdf_url_ttl
    return SignedPdf(url=url, expires_in=ttl, verify_url=verify_url)
