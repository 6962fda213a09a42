"""Acting as a user exactly as PostgREST does for each request.

PostgREST opens a transaction and, in one statement, sets transaction-local `search_path`,
`role`, `request.jwt.claims`, `request.method`, `request.path` and `request.headers`, then
runs the request's statement. The claims are those Supabase Auth issues, custom access
token hook included, at the assurance level the user's login reaches: aal2 for a login with a
verified TOTP factor (every staff login: they verify a code after their password, as the
README shows), aal1 otherwise (patients: phone OTP alone). Pass `aal="aal1"` for a staff
member signed in with a password only.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg


class PostgrestSession:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def claims_for(self, email_or_id: str, aal: str | None = None) -> dict[str, Any]:
        """The access-token claims Supabase Auth would issue to this user (see the module's
        docstring for the assurance level)."""
        self.conn.execute("reset role")
        user = self.conn.execute(
            "select id, coalesce(email, ''), coalesce(phone, ''), is_anonymous,"
            " raw_app_meta_data, raw_user_meta_data,"
            " exists (select from auth.mfa_factors as f where f.user_id = u.id"
            " and f.factor_type = 'totp' and f.status = 'verified')"
            " from auth.users as u where email = %(key)s or id::text = %(key)s",
            {"key": email_or_id},
        ).fetchone()
        if user is None:
            raise LookupError(f"no auth user {email_or_id}")
        if aal is None:
            aal = "aal2" if user[6] else "aal1"
        now = int(time.time())
        base = {
            "iss": "http://127.0.0.1:54321/auth/v1",
            "aud": "authenticated",
            "sub": str(user[0]),
            "exp": now + 900,
            "iat": now,
            "email": user[1],
            "phone": user[2],
            "role": "authenticated",
            "aal": aal,
            "session_id": str(uuid.uuid4()),
            "is_anonymous": user[3],
            "app_metadata": user[4],
            "user_metadata": user[5],
        }
        event = {"user_id": str(user[0]), "claims": base, "authentication_method": "password"}
        (result,) = self.conn.execute(
            "select private.custom_access_token_hook(%s::jsonb)", (json.dumps(event),)
        ).fetchone()
        return result["claims"]

    def become(
        self,
        claims: dict[str, Any],
        method: str = "GET",
        path: str = "/rest/v1/",
    ) -> None:
        """Start acting with these claims for the rest of the current transaction."""
        role = claims.get("role", "anon")
        self.conn.execute(
            "select set_config('search_path', 'public, extensions', true),"
            " set_config('role', %s, true),"
            " set_config('request.jwt.claims', %s, true),"
            " set_config('request.method', %s, true),"
            " set_config('request.path', %s, true),"
            " set_config('request.headers', %s, true)",
            (role, json.dumps(claims), method, path, json.dumps({"user-agent": "pytest"})),
        )

    def user(self, email_or_id: str, **request: str) -> None:
        self.become(self.claims_for(email_or_id), **request)

    def anon(self) -> None:
        self.become({"role": "anon"})

    def service_role(self) -> None:
        self.become({"role": "service_role"})

    def rows(self, query: str, params: Any = None) -> list[tuple]:
        return self.conn.execute(query, params).fetchall()
