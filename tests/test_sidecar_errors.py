"""The sidecar's one mapping of database refusals to its error shape (sidecar/errors.py).

PostgREST's error body, as the `supabase` client raises it, becomes the status and stable
code a client of the sidecar sees; no other module maps database codes (checked here too).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from postgrest.exceptions import APIError

from sidecar.errors import database_error

SIDECAR = Path(__file__).resolve().parent.parent / "sidecar"


def _refusal(code: str, details: str | None = None, message: str | None = "refused") -> APIError:
    return APIError({"code": code, "details": details, "message": message, "hint": None})


@pytest.mark.parametrize(
    ("code", "details", "status", "expected"),
    [
        # PostgREST's own codes and SQLSTATEs, by the table.
        ("PGRST301", None, 401, "invalid_token"),
        ("42501", None, 403, "forbidden"),
        ("PGRST116", None, 404, "not_found"),
        ("23505", None, 409, "conflict"),
        ("23P01", None, 409, "conflict"),
        ("23514", None, 422, "constraint_violated"),
        ("22P02", None, 422, "invalid_value"),
        ("40001", None, 503, "try_again"),
        ("XX000", None, 502, "upstream_error"),
        # The project's functions: PTxyz is HTTP xyz, DETAIL holds the machine code.
        ("PT404", None, 404, "not_found"),
        ("PT403", "insufficient_aal", 403, "insufficient_aal"),
        ("PT409", "membership_exists", 409, "membership_exists"),
        ("PT422", "login_phone_mismatch", 422, "login_phone_mismatch"),
        ("23505", "email_taken", 409, "email_taken"),
        # A DETAIL that is prose, not a code, leaves the table's code.
        ("23505", "Key (email)=(a@b.c) already exists.", 409, "conflict"),
    ],
)
def test_a_database_refusal_maps_to_one_status_and_code(
    code: str, details: str | None, status: int, expected: str
) -> None:
    error = database_error(_refusal(code, details, "the database says no"))
    assert (error.status, error.code, error.message) == (status, expected, "the database says no")


def test_a_refusal_without_a_message_still_says_what_happened() -> None:
    assert database_error(_refusal("23505", message=None)).message == (
        "the database refused the request"
    )


def test_a_caller_answers_chosen_detail_codes_in_its_own_words() -> None:
    refusals = {"staff_phone": (409, "phone_belongs_to_staff", "staff sign in by email")}
    chosen = database_error(_refusal("PT409", "staff_phone"), refusals)
    assert (chosen.status, chosen.code, chosen.message) == (
        409,
        "phone_belongs_to_staff",
        "staff sign in by email",
    )
    other = database_error(_refusal("PT409", "patient_archived"), refusals)
    assert (other.status, other.code) == (409, "patient_archived")


# A PostgREST code or a SQLSTATE of the classes the table maps, as a string literal.
_DATABASE_CODE = re.compile(r"PT\d{3}|PGRST\d{3}|(22|23|40|42)[0-9A-Z]{3}")


def test_no_other_module_maps_database_codes() -> None:
    """The mapping is in one place: no code of the table appears in another sidecar module."""
    elsewhere = {
        f"{path.relative_to(SIDECAR.parent)}:{node.lineno} {node.value}"
        for path in SIDECAR.rglob("*.py")
        if path != SIDECAR / "errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _DATABASE_CODE.fullmatch(node.value)
    }
    assert not elsewhere
