"""The bridge from a Firebase phone sign-in to a Supabase session of the patient's own login.

1. `rpc/begin_patient_login` (service role): which Supabase Auth user signs in with this
   phone; a staff account's phone is refused before anything is created.
2. None yet: the Auth admin API creates one (phone confirmed, firebase_uid in app_metadata).
3. Password grant with the login's password, HMAC(secret, user id): only the sidecar can
   derive it. An older login without it (seeded, or the secret rotated) gets it set, once.
   So does a former staff member's login (step 1 refuses an active one), whose ban from the
   deactivation is lifted: it is a patient's login now, and the staff password no longer
   opens it. A ban an operator set stays.
4. `rpc/link_patient_login` (service role, one transaction): finds, links or creates the
   patient (see the migration for the linking rule).
5. A token issued before the link lacks the patient claims: it is refreshed, so the custom
   access token hook adds them.

A failure before step 4 commits deletes a login this request created, so nothing is left;
after it, the login and its patient are consistent and the next attempt reuses them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid
from typing import Any

import jwt
from supabase import AsyncClient
from supabase_auth.errors import AuthApiError
from supabase_auth.types import Session

from sidecar.accounts.staff_provisioning import DEACTIVATION_BAN
from sidecar.errors import ApiError
from sidecar.integrations.firebase_tokens import PhoneIdentity, token_verifier
from sidecar.integrations.supabase_api import SupabaseApi, call_rpc
from sidecar.settings import SidecarSettings

log = logging.getLogger("sidecar.patient_login")

# Database refusals (the `detail` of the raised exception) → the sidecar's errors.
_DATABASE_REFUSALS = {
    "staff_phone": (
        409,
        "phone_belongs_to_staff",
        "this phone number belongs to a staff account; staff sign in with email and password",
    ),
    "patient_archived": (
        409,
        "patient_archived",
        "the patient record of this phone is archived; ask the hospital to restore it",
    ),
}


def login_password(secret: str, user_id: str) -> str:
    digest = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).digest()
    # The prefix holds one of each character class the password policy asks for.
    return "Pl1#" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _claims(session: Session) -> dict[str, Any]:
    # Read only to see whether the hook already added the patient; never trusted.
    return jwt.decode(session.access_token, options={"verify_signature": False})


class PatientLogin:
    def __init__(self, supabase: SupabaseApi, secret: str) -> None:
        if not secret:
            raise ApiError(503, "patient_login_unconfigured", "patient login is not configured")
        self.supabase = supabase
        self.secret = secret

    async def _rpc(self, service: AsyncClient, name: str, params: dict[str, Any]) -> Any:
        return await call_rpc(service, name, params, _DATABASE_REFUSALS)

    async def _begin(self, service: AsyncClient, phone: str) -> str | None:
        user_id = await self._rpc(service, "begin_patient_login", {"phone": phone})
        return str(user_id) if user_id else None

    async def _create_login(self, service: AsyncClient, identity: PhoneIdentity) -> str | None:
        """A new Auth user for the phone, or None when a concurrent sign-in made one first."""
        user_id = str(uuid.uuid4())
        attributes: dict[str, Any] = {
            "id": user_id,
            "phone": identity.phone,
            "phone_confirm": True,
            "password": login_password(self.secret, user_id),
            "app_metadata": {"firebase_uid": identity.firebase_uid},
        }
        if identity.name:
            attributes["user_metadata"] = {"full_name": identity.name}
        try:
            await service.auth.admin.create_user(attributes)  # type: ignore[arg-type]
        except AuthApiError as error:
            if error.code == "phone_exists":
                return None
            raise
        return user_id

    async def _sign_in(self, user_id: str, phone: str, new: bool) -> Session:
        password = login_password(self.secret, user_id)
        credentials = {"phone": phone, "password": password}
        try:
            return await self._password_grant(credentials)
        except AuthApiError as error:
            if new or error.code not in ("invalid_credentials", "user_banned"):
                raise
            refusal = error
        # A login from before the bridge (seed, voice channel), from before a secret rotation,
        # or a former staff member's: give it the derived password and try once more.
        # A banned login with a wrong password is refused as invalid_credentials (the answer
        # does not tell bans apart), so the deactivation mark is read either way.
        service = self.supabase.as_service()
        attributes: dict[str, Any] = {"password": password}
        login = await service.auth.admin.get_user_by_id(user_id)
        if (login.user.app_metadata or {}).get(DEACTIVATION_BAN):
            attributes |= {"ban_duration": "none", "app_metadata": {DEACTIVATION_BAN: None}}
        elif refusal.code == "user_banned":
            raise refusal
        await service.auth.admin.update_user_by_id(user_id, attributes)  # type: ignore[arg-type]
        return await self._password_grant(credentials)

    async def _password_grant(self, credentials: dict[str, str]) -> Session:
        result = await self.supabase.anonymous().auth.sign_in_with_password(credentials)  # type: ignore[arg-type]
        if result.session is None:
            raise ApiError(502, "upstream_error", "Supabase Auth returned no session")
        return result.session

    async def _undo(self, user_id: str, created: bool, session: Session | None) -> None:
        service = self.supabase.as_service()
        try:
            if created:
                await service.auth.admin.delete_user(user_id)
            elif session is not None:
                await service.auth.admin.sign_out(session.access_token, "local")
        except Exception:
            log.exception("could not undo a failed patient login", extra={"user_id": user_id})

    async def session_for(self, identity: PhoneIdentity, full_name: str | None) -> Session:
        service = self.supabase.as_service()
        user_id = await self._begin(service, identity.phone)
        created = False
        if user_id is None:
            user_id = await self._create_login(service, identity)
            created = user_id is not None
            if user_id is None:
                user_id = await self._begin(service, identity.phone)
            if user_id is None:
                raise ApiError(409, "conflict", "the phone's login changed meanwhile; try again")
        session: Session | None = None
        try:
            session = await self._sign_in(user_id, identity.phone, new=created)
            metadata = session.user.app_metadata or {}
            if metadata.get("firebase_uid") != identity.firebase_uid:
                await service.auth.admin.update_user_by_id(
                    user_id, {"app_metadata": {"firebase_uid": identity.firebase_uid}}
                )
            link = await self._rpc(
                service,
                "link_patient_login",
                {
                    "user_id": user_id,
                    "phone": identity.phone,
                    "full_name": full_name or identity.name,
                },
            )
        except BaseException:
            await self._undo(user_id, created, session)
            raise
        log.info("patient login", extra={"user_id": user_id, "outcome": link["outcome"]})
        if _claims(session).get("patient_id") != link["patient_id"]:
            session = await refresh(self.supabase, session.refresh_token)
        return session


async def sign_in(
    supabase: SupabaseApi, settings: SidecarSettings, id_token: str, full_name: str | None
) -> Session:
    """A Firebase ID token of a phone sign-in → a Supabase session of the patient's login."""
    login = PatientLogin(supabase, settings.patient_login_secret)
    identity = await token_verifier(settings.firebase_project_id).verify(id_token)
    try:
        return await login.session_for(identity, full_name)
    except AuthApiError as error:
        if error.code == "user_banned":
            raise ApiError(403, "account_disabled", "this login is disabled") from error
        raise ApiError(502, "upstream_error", f"Supabase Auth refused: {error.message}") from error


async def refresh(supabase: SupabaseApi, refresh_token: str) -> Session:
    """Supabase Auth's refresh grant: a new access token (claims from the hook) and a rotated
    refresh token."""
    try:
        result = await supabase.anonymous().auth.refresh_session(refresh_token)
    except AuthApiError as error:
        if error.status >= 500:
            raise ApiError(502, "upstream_error", "Supabase Auth failed; try again") from error
        raise ApiError(
            401, "invalid_refresh_token", error.message or "the refresh token is not valid"
        ) from error
    if result.session is None:
        raise ApiError(401, "invalid_refresh_token", "the refresh token is not valid")
    return result.session
