"""AuthApi: the routes of /auth/v1, each a thin handler over one module of this package.

Every handler answers errors in Supabase Auth's format (errors.py); endpoints GoTrue has but
devstack does not implement answer 501 `not_implemented`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devstack.auth import admin, bearer, mfa, password_grant, sessions, signup, user_updates
from devstack.auth import users as users_module
from devstack.auth.audit import record as record_audit
from devstack.auth.auth_config import AuthConfig
from devstack.auth.errors import (
    AuthError,
    bad_request,
    database_unavailable,
    error_response,
    not_found,
    not_implemented,
    oauth,
    request_timeout,
    unexpected_failure,
)
from devstack.auth.rate_limits import RateLimits
from devstack.auth.server_settings import health, public_settings
from devstack.config import Settings
from devstack.gateway import json_bodies
from devstack.gateway.connections import (
    AcquireTimeout,
    ConnectionLost,
    ConnectionPool,
    DatabaseUnavailable,
)

log = logging.getLogger("carebase.auth")

Handler = Callable[[Request], Awaitable[Response]]

# GoTrue endpoints devstack leaves to `supabase start` (path, methods, what it is).
NOT_IMPLEMENTED = [
    ("/otp", ["POST"], "Sign-in with a one-time password (email or SMS)"),
    ("/verify", ["GET", "POST"], "OTP and link verification"),
    ("/magiclink", ["POST"], "Magic links"),
    ("/recover", ["POST"], "Password recovery emails"),
    ("/resend", ["POST"], "Resending OTPs and confirmations"),
    ("/invite", ["POST"], "Invitations"),
    ("/reauthenticate", ["GET"], "Reauthentication"),
    ("/authorize", ["GET"], "OAuth sign-in"),
    ("/callback", ["GET", "POST"], "OAuth callbacks"),
    ("/sso", ["POST"], "SSO"),
    ("/saml/{rest:path}", ["GET", "POST"], "SAML"),
    ("/user/identities/{rest:path}", ["GET", "DELETE"], "Identity linking"),
    ("/admin/generate_link", ["POST"], "Generating links"),
    ("/admin/users/{user_id}/factors", ["GET"], "Listing factors through the admin API"),
    ("/admin/users/{user_id}/factors/{factor_id}", ["PUT", "DELETE"], "Admin factor changes"),
    ("/admin/sso/{rest:path}", ["GET", "POST", "PUT", "DELETE"], "SSO providers"),
    ("/.well-known/jwks.json", ["GET"], "Asymmetric signing keys (devstack signs with HS256)"),
]


class AuthApi:
    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool
        self.secret = settings.jwt_secret
        self.config = AuthConfig.load(settings)
        self.rate_limits = RateLimits(
            self.config.rate_limit_sign_in_sign_ups, self.config.rate_limit_token_refresh
        )
        self.routes: list[BaseRoute] = [
            Route("/health", self._guard(self.health), methods=["GET"]),
            Route("/settings", self._guard(self.server_settings), methods=["GET"]),
            Route("/token", self._guard(self.token), methods=["POST"]),
            Route("/signup", self._guard(self.signup), methods=["POST"]),
            Route("/logout", self._guard(self.logout), methods=["POST"]),
            Route("/user", self._guard(self.get_user), methods=["GET"]),
            Route("/user", self._guard(self.update_user), methods=["PUT"]),
            Route("/factors", self._guard(self.enroll_factor), methods=["POST"]),
            Route(
                "/factors/{factor_id}/challenge",
                self._guard(self.challenge_factor),
                methods=["POST"],
            ),
            Route("/factors/{factor_id}/verify", self._guard(self.verify_factor), methods=["POST"]),
            Route("/factors/{factor_id}", self._guard(self.unenroll_factor), methods=["DELETE"]),
            Route("/admin/users", self._guard(self.admin_create_user), methods=["POST"]),
            Route("/admin/users", self._guard(self.admin_list_users), methods=["GET"]),
            Route("/admin/users/{user_id}", self._guard(self.admin_get_user), methods=["GET"]),
            Route("/admin/users/{user_id}", self._guard(self.admin_update_user), methods=["PUT"]),
            Route(
                "/admin/users/{user_id}", self._guard(self.admin_delete_user), methods=["DELETE"]
            ),
        ]
        for path, methods, feature in NOT_IMPLEMENTED:
            self.routes.append(Route(path, self._guard(_refuse(feature)), methods=methods))
        self.routes.append(
            Route(
                "/{rest:path}",
                self._guard(_unknown_path),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        )

    async def startup(self) -> None:
        log.info(
            "auth: jwt_expiry=%ss inactivity_timeout=%ss hooks: access_token=%s password=%s "
            "rate limits per IP per 5 min: sign-in/sign-up %s, refresh %s",
            self.config.jwt_expiry,
            self.config.inactivity_timeout,
            self.config.access_token_hook,
            self.config.password_verification_hook,
            self.config.rate_limit_sign_in_sign_ups,
            self.config.rate_limit_token_refresh,
        )

    async def shutdown(self) -> None:
        return None

    # -- plumbing -------------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        async def attempt(request: Request) -> Response:
            try:
                return await handler(request)
            except ConnectionLost as lost:
                if not lost.unexecuted:
                    raise
            # the connection had been terminated before its first command: nothing ran, and
            # the handler runs again on another connection (its request body is kept)
            log.warning("auth: a terminated connection was replaced")
            return await handler(request)

        async def guarded(request: Request) -> Response:
            try:
                return await attempt(request)
            except DatabaseUnavailable as error:
                log.warning("auth: %s %s: %s", request.method, request.url.path, error.details)
                return error_response(request, database_unavailable())
            except AcquireTimeout:
                return error_response(request, request_timeout())
            except ConnectionLost as lost:
                log.warning("auth: %s %s: %s", request.method, request.url.path, lost)
                return error_response(request, database_unavailable())
            except AuthError as error:
                return error_response(request, error)
            except psycopg.DataError as error:
                # Input Postgres cannot hold (a NUL byte, a date out of range...): the
                # client's mistake, answered as GoTrue answers invalid input
                message = error.diag.message_primary or str(error)
                return error_response(
                    request, bad_request("validation_failed", f"Invalid input: {message}")
                )
            except Exception:
                log.exception("auth: %s %s failed", request.method, request.url.path)
                return error_response(request, unexpected_failure())

        return guarded

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json_bodies.loads(raw)
        except ValueError as error:
            raise bad_request(
                "bad_json", f"Could not parse request body as JSON: {error}"
            ) from None
        if not isinstance(body, dict):
            raise bad_request("bad_json", "Could not parse request body as JSON: not an object")
        if _holds_unstorable_text(body):
            # Checked once here for every route: Postgres text and jsonb hold neither, and a
            # lone surrogate cannot even be encoded to send, so deeper down it is a 500.
            raise bad_request(
                "validation_failed",
                "Invalid input: text cannot contain NUL characters or unpaired surrogates",
            )
        return body

    @staticmethod
    def _client(request: Request) -> sessions.Client:
        return sessions.Client(bearer.client_ip(request), request.headers.get("user-agent"))

    # -- public ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse(health())

    async def server_settings(self, request: Request) -> Response:
        return JSONResponse(public_settings(self.config))

    async def token(self, request: Request) -> Response:
        grant_type = request.query_params.get("grant_type", "")
        # Counted before anything else, as GoTrue counts them: a refused attempt costs too.
        if grant_type == "password":
            self.rate_limits.hit("sign_in_sign_ups", bearer.client_ip(request))
        elif grant_type == "refresh_token":
            self.rate_limits.hit("token_refresh", bearer.client_ip(request))
        body = await self._body(request)
        client = self._client(request)
        if grant_type == "password":
            response = await password_grant.sign_in(
                self.pool, self.config, self.secret, body, client
            )
        elif grant_type == "refresh_token":
            refresh_token = str(body.get("refresh_token") or "")
            if not refresh_token:
                raise oauth("invalid_request", "refresh_token required")
            response = await sessions.refresh(
                self.pool, self.config, self.secret, refresh_token, client
            )
        elif grant_type in ("pkce", "id_token", "web3"):
            raise not_implemented(f"The {grant_type} grant")
        else:
            raise bad_request("invalid_credentials", "unsupported_grant_type")
        return JSONResponse(response)

    async def signup(self, request: Request) -> Response:
        self.rate_limits.hit("sign_in_sign_ups", bearer.client_ip(request))
        body = await self._body(request)
        response = await signup.sign_up(
            self.pool, self.config, self.secret, body, self._client(request)
        )
        return JSONResponse(response)

    # -- the signed-in user ---------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        scope = request.query_params.get("scope", "") or "global"
        if scope not in ("global", "local", "others"):
            raise bad_request("validation_failed", f'Unsupported logout scope "{scope}"')
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            await record_audit(
                conn,
                "logout",
                actor_id=caller.user_id,
                actor_username=users_module.username(caller.user),
                ip_address=bearer.client_ip(request),
            )
            session_id = str(caller.session["id"]) if caller.session else None
            await sessions.logout(conn, caller.user_id, session_id, scope)
        return Response(status_code=204)

    async def get_user(self, request: Request) -> Response:
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            return JSONResponse(await users_module.present(conn, caller.user_id))

    async def update_user(self, request: Request) -> Response:
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            user = await user_updates.update_self(
                conn, self.config, caller, body, bearer.client_ip(request)
            )
        return JSONResponse(user)

    async def enroll_factor(self, request: Request) -> Response:
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            enrolled = await mfa.enroll(conn, self.config, caller, body, bearer.client_ip(request))
        return JSONResponse(enrolled)

    async def challenge_factor(self, request: Request) -> Response:
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            created = await mfa.challenge(
                conn,
                self.config,
                caller,
                request.path_params["factor_id"],
                bearer.client_ip(request),
            )
        return JSONResponse(created)

    async def verify_factor(self, request: Request) -> Response:
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            response = await mfa.verify(
                conn,
                self.config,
                self.secret,
                caller,
                request.path_params["factor_id"],
                body,
                bearer.client_ip(request),
            )
        return JSONResponse(response)

    async def unenroll_factor(self, request: Request) -> Response:
        async with self.pool.connection() as conn, conn.transaction():
            caller = await bearer.require_user(request, self.secret, conn)
            removed = await mfa.unenroll(
                conn, caller, request.path_params["factor_id"], bearer.client_ip(request)
            )
        return JSONResponse(removed)

    # -- admin ----------------------------------------------------------------------------

    async def admin_create_user(self, request: Request) -> Response:
        claims = bearer.require_admin(request, self.secret)
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await admin.create_user(
                conn, self.config, claims, body, bearer.client_ip(request)
            )
        return JSONResponse(user)

    async def admin_list_users(self, request: Request) -> Response:
        bearer.require_admin(request, self.secret)
        page = _positive_int(request.query_params.get("page"), 1)
        per_page = _positive_int(request.query_params.get("per_page"), admin.DEFAULT_PER_PAGE)
        async with self.pool.connection() as conn, conn.transaction():
            body, total = await admin.list_users(
                conn, page, per_page, request.query_params.get("filter") or None
            )
        headers = {"X-Total-Count": str(total), "Link": _page_links(request, page, per_page, total)}
        return JSONResponse(body, headers={k: v for k, v in headers.items() if v})

    async def admin_get_user(self, request: Request) -> Response:
        bearer.require_admin(request, self.secret)
        user_id = admin.user_id_of(request.path_params["user_id"])
        async with self.pool.connection() as conn, conn.transaction():
            return JSONResponse(await admin.get_user(conn, user_id))

    async def admin_update_user(self, request: Request) -> Response:
        claims = bearer.require_admin(request, self.secret)
        user_id = admin.user_id_of(request.path_params["user_id"])
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            user = await admin.update_user(
                conn, self.config, claims, user_id, body, bearer.client_ip(request)
            )
        return JSONResponse(user)

    async def admin_delete_user(self, request: Request) -> Response:
        claims = bearer.require_admin(request, self.secret)
        user_id = admin.user_id_of(request.path_params["user_id"])
        body = await self._body(request)
        async with self.pool.connection() as conn, conn.transaction():
            await admin.delete_user(
                conn,
                claims,
                user_id,
                bool(body.get("should_soft_delete")),
                bearer.client_ip(request),
            )
        return JSONResponse({})


# NUL and the UTF-16 surrogate halves, which JSON's \u escapes can spell but UTF-8 cannot.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _holds_unstorable_text(body: dict[str, Any]) -> bool:
    """Whether any string of a parsed JSON body, keys included, is one Postgres cannot store.
    A loop, not recursion: the body may nest as deep as the JSON parser allowed."""
    pending: list[Any] = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _refuse(feature: str) -> Handler:
    async def refuse(request: Request) -> Response:
        raise not_implemented(feature)

    return refuse


async def _unknown_path(request: Request) -> Response:
    raise not_found("not_found", f"No such endpoint: {request.method} {request.url.path}")


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise bad_request("validation_failed", f"not a number: {raw}") from None
    if value >= 2**31:
        raise bad_request("validation_failed", "Bad Pagination Parameters")
    return value if value > 0 else default


def _page_links(request: Request, page: int, per_page: int, total: int) -> str:
    """GitHub-style Link header, as GoTrue sends with paginated lists."""
    last = max(1, -(-total // per_page))
    base = str(request.url.remove_query_params(["page", "per_page"]))
    sep = "&" if "?" in base else "?"

    def link(target: int, rel: str) -> str:
        return f'<{base}{sep}page={target}&per_page={per_page}>; rel="{rel}"'

    links = []
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    return ", ".join(links)
