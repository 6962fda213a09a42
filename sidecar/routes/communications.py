"""/api/v1/communications: a message to a patient, from a template rendered here or as typed.

What the database cannot do is render Jinja2: a template (public.message_templates, read with
the caller's own JWT, so RLS decides which they may use) is rendered in the sandbox
(sidecar.messaging.templates), then rpc/send_message queues the text as the caller, and the
database checks the rest (the patient within reach, consent, the address, the WhatsApp
window). Everything else about messages (list, get, status, read, archive, stats, search) is
the Supabase API; see the README's seed 001 map.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter
from postgrest.exceptions import APIError
from pydantic import BaseModel, Field

from sidecar.errors import ApiError, database_error, error_responses
from sidecar.integrations.supabase_api import call_rpc
from sidecar.messaging.templates import TemplateError, render
from sidecar.routes.dependencies import CallerToken, Supabase

router = APIRouter(tags=["Communications"])


class CommunicationCreate(BaseModel):
    patient_id: UUID
    channel: Literal["whatsapp", "sms", "email"]
    hospital_id: UUID | None = Field(
        None, description="Needed when the patient is registered at several of your hospitals"
    )
    message: str | None = Field(None, description="The text, when no template is named")
    subject: str | None = Field(None, description="Email subject (a template brings its own)")
    template_id: UUID | None = None
    template_name: str | None = Field(
        None, description="The template's code within the hospital and channel, e.g. apt_reminder"
    )
    template_vars: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="A value for every variable the template declares"
    )
    scheduled_for: datetime | None = Field(None, description="When to send it; none: now")
    journey_instance_id: UUID | None = None


TEMPLATE_COLUMNS = "id, hospital_id, code, channel, subject, body, variables, is_active"


async def _template(client: Any, body: CommunicationCreate) -> dict[str, Any]:
    query = client.table("message_templates").select(TEMPLATE_COLUMNS).eq("channel", body.channel)
    if body.template_id:
        query = query.eq("id", str(body.template_id))
    else:
        query = query.eq("code", body.template_name)
    if body.hospital_id:
        query = query.eq("hospital_id", str(body.hospital_id))
    try:
        rows = (await query.limit(2).execute()).data or []
    except APIError as error:
        raise database_error(error) from error
    if not rows:
        raise ApiError(404, "not_found", "template not found")
    if len(rows) > 1:
        raise ApiError(
            422, "hospital_required", "several of your hospitals have this template: name one"
        )
    return rows[0]


def _rendered(source: str, template: dict[str, Any], values: dict[str, Any]) -> str:
    try:
        return render(source, template["variables"], values)
    except TemplateError as error:
        raise ApiError(422, error.code, error.message) from error


@router.post(
    "/communications",
    operation_id="communication_create",
    status_code=201,
    summary="Send a message to a patient, from a template or as typed (seed 001)",
    description=(
        "With `template_id` or `template_name` the template (one your hospital may use) is "
        "rendered in Jinja2's sandbox with `template_vars`: a variable the template uses but "
        "does not declare, one declared but not given, or one given but not declared is 422 "
        "with its code (template_variable_undeclared, template_variable_missing, "
        "template_variable_unknown). Otherwise `message` is the text. The message is then "
        "queued by rpc/send_message with your token: 404 for a patient beyond your reach, 409 "
        "contact_consent_withdrawn or whatsapp_window_closed (outside 24 hours since the "
        "patient's last WhatsApp message only an approved template goes), 422 when the "
        "patient has no phone or email. Answers the message (status queued)."
    ),
    response_model=dict[str, Any],
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def create_communication(
    body: CommunicationCreate, supabase: Supabase, token: CallerToken
) -> dict[str, Any]:
    client = supabase.as_user(token)
    text, subject, template = body.message, body.subject, None
    if body.template_id or body.template_name:
        if body.message:
            raise ApiError(422, "validation_failed", "give a template or a message, not both")
        template = await _template(client, body)
        if not template["is_active"]:
            raise ApiError(422, "template_not_usable", "the template is inactive")
        text = _rendered(template["body"], template, body.template_vars)
        if template["subject"]:
            subject = _rendered(template["subject"], template, body.template_vars)
    elif not body.message:
        raise ApiError(422, "validation_failed", "give a message or a template")
    elif body.template_vars:
        raise ApiError(422, "template_variable_unknown", "template_vars need a template")
    params = {
        "patient_id": str(body.patient_id),
        "channel": body.channel,
        "body": text,
        "subject": subject,
        "hospital_id": str(template["hospital_id"] if template else body.hospital_id or "") or None,
        "template_id": template["id"] if template else None,
        "template_variables": body.template_vars,
        "scheduled_for": body.scheduled_for.isoformat() if body.scheduled_for else None,
        "journey_instance_id": str(body.journey_instance_id) if body.journey_instance_id else None,
    }
    return await call_rpc(client, "send_message", params)
