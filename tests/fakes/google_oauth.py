"""A fake of Google's OAuth 2.0 token endpoint for service accounts (RFC 7523 JWT bearer grant).

`POST /token`, form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
`assertion=<JWT>`: the JWT is RS256-signed with the service account's private key and carries
`iss` (the account's email), `scope`, `aud` (Google's token endpoint, whatever URL the key
file names as `token_uri`) and `iat`/`exp` at most an hour apart. Answers `{"access_token",
"expires_in", "token_type": "Bearer"}`, or OAuth's error body `{"error",
"error_description"}`. `service_account_file` writes the JSON key file that points at this
endpoint, with a key pair made for the test.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"
# Either scope lets a token send through FCM's HTTP v1 API.
FCM_SCOPES = {
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
}


def _refused(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


class FakeGoogleOAuth:
    def __init__(
        self,
        access_token: str,
        client_email: str = "fcm-sender@demo-carebase.iam.gserviceaccount.com",
    ) -> None:
        self.access_token = access_token
        self.client_email = client_email
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""  # set once served
        self.lock = threading.Lock()
        self.assertions: list[dict[str, Any]] = []  # claims of every accepted assertion
        self.key_revoked = False  # as when the key is deleted in the Cloud console
        self.app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_file(self, directory: Path, project_id: str) -> Path:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(info))
        return path

    async def token(self, request: Request) -> JSONResponse:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _refused("invalid_request", "Bad Request")
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != JWT_BEARER:
            return _refused("unsupported_grant_type", "Invalid grant_type: ")
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=self.client_email,
                options={"require": ["iat", "exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            return _refused("invalid_grant", f"Invalid JWT Signature. ({error})")
        if self.key_revoked:
            return _refused("invalid_grant", "Invalid JWT Signature.")
        if claims["exp"] - claims["iat"] > 3600:
            return _refused("invalid_grant", "Invalid JWT: Token must be a short-lived token")
        if not FCM_SCOPES & set(str(claims.get("scope", "")).split()):
            return _refused("invalid_scope", "No scope allows sending through FCM")
        with self.lock:
            self.assertions.append(claims)
        return JSONResponse(
            {"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"},
            headers={"Cache-Control": "no-store"},
        )

    def exchanges(self) -> int:
        with self.lock:
            return len(self.assertions)
