"""Schemathesis against the sidecar's own OpenAPI document: no input makes it fail (5xx), and
every answer is one the document declares, in the declared shape.

Examples are derandomized under CI so a run is reproducible.
The calls go to the running sidecar, whose document is built here from the same code.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sidecar.app import create_app

schema = schemathesis.openapi.from_dict(create_app().openapi())


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
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
