"""Schemathesis against the sidecar's own OpenAPI document: no input makes it fail (5xx), and
every answer is one the document declares, in the declared shape. The staff routes are
fuzzed a second time with a real access token, so that inputs reach the database too.

Examples are derandomized under CI so a run is reproducible.
The calls go to the running sidecar, whose document is built here from the same code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sidecar.app import create_app
from tests.auth_target import TEST_PASSWORD, AuthTarget, sign_in

pytest_plugins = ["tests.auth_target"]

CheckFunction = Callable[[Any, Response, schemathesis.Case], bool | None]

schema = schemathesis.openapi.from_dict(create_app().openapi())


def _not_from_the_app(response: Response) -> bool:
    """Answers the app never gives for its input: 503 `not_configured` (a feature whose
    provider settings `make up` leaves unset, such as Vapi and Twilio), and the HTTP server's
    own 400 for a request it cannot parse (a malformed Content-Length header never reaches the
    app, nor its document)."""
    if response.status_code == 503:
        try:
            return response.json().get("code") == "not_configured"
        except ValueError:
            return False
    return response.status_code == 400 and response.text.startswith("Invalid HTTP request")


def _of_the_app(check: CheckFunction) -> CheckFunction:
    def checked(ctx: Any, response: Response, case: schemathesis.Case) -> bool | None:
        return None if _not_from_the_app(response) else check(ctx, response, case)

    checked.__name__ = check.__name__
    return checked


CHECKS = [
    _of_the_app(check)
    for check in (
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    )
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=list(HealthCheck),
)
def test_no_input_breaks_the_sidecar(case: schemathesis.Case, sidecar: str) -> None:
    case.call_and_validate(
        base_url=sidecar,
        checks=CHECKS,
    )


@pytest.fixture(scope="module")
def no_role_token(gateway: str, auth: AuthTarget) -> str:
    """A valid access token of a login with no role anywhere: every staff call reaches the
    database, which refuses it, so the fuzzing changes nothing."""
    user = auth.new_user()
    return sign_in(auth, user["email"], TEST_PASSWORD)["access_token"]


@schema.include(path_regex="^/api/v1/(doctors|pharmacists|staff|users)").parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=list(HealthCheck),
)
def test_no_input_from_a_signed_in_user_breaks_the_staff_routes(
    case: schemathesis.Case, sidecar: str, no_role_token: str
) -> None:
    case.call_and_validate(
        base_url=sidecar,
        headers={"Authorization": f"Bearer {no_role_token}"},
        checks=CHECKS,
    )
