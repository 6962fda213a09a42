"""The session the sidecar's login routes return: a Supabase Auth session plus who it is.

The access token is Supabase's own (claims from the custom access token hook), so the
client uses it directly against `/rest/v1` and Realtime; `user` repeats the claims a client
needs to pick its screens, and the refresh token renews it through the refresh route or
Supabase Auth itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import jwt
from pydantic import BaseModel, Field
from supabase_auth.types import Session


class Membership(BaseModel):
    hospital_id: UUID
    role: str


class SessionUser(BaseModel):
    id: UUID
    email: str | None = None
    phone: str | None = None
    role: str | None = Field(None, description="user_role claim: the primary role, or patient")
    hospital_id: UUID | None = None
    patient_id: UUID | None = None
    memberships: list[Membership] = []
    full_name: str | None = None
    aal: str | None = Field(None, description="aal1, or aal2 after a second factor")
    password_change_required: bool = Field(
        False,
        description="An admin reset the password: set your own (PATCH /api/v1/users/{id}/password)",
    )


class SessionOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int
    expires_at: int | None = None
    user: SessionUser


def _e164(phone: str | None) -> str | None:
    """Supabase Auth stores phone numbers without the leading +."""
    if not phone:
        return None
    return phone if phone.startswith("+") else f"+{phone}"


def session_out(session: Session) -> SessionOut:
    # The token comes straight from Supabase Auth over our own connection: its claims are
    # only read here (to describe the user), never trusted for a decision.
    claims: dict[str, Any] = jwt.decode(session.access_token, options={"verify_signature": False})
    user = session.user
    metadata = user.user_metadata or {}
    return SessionOut(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_in=session.expires_in,
        expires_at=session.expires_at,
        user=SessionUser(
            id=user.id,
            email=user.email or None,
            phone=_e164(user.phone),
            role=claims.get("user_role"),
            hospital_id=claims.get("hospital_id"),
            patient_id=claims.get("patient_id"),
            memberships=claims.get("memberships") or [],
            full_name=metadata.get("full_name"),
            aal=claims.get("aal"),
            password_change_required=bool(
                (user.app_metadata or {}).get("password_change_required")
            ),
        ),
    )
