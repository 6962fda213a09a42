"""Schemathesis against the OpenAPI document the gateway serves at `GET /rest/v1/` to the
service role (the one that lists everything; each role's lists what it may use): every
operation it lists (tables, views, RPCs; GET/POST/PATCH/DELETE as listed) is called with
generated valid and invalid input, as anon and as a signed-in demo staff user. No answer is
a 5xx, and every error has PostgREST's four keys.

Nothing is written: db-tx-end is `commit-allow-override` for the run and every request
says `Prefer: tx=rollback`; a write that answers 2xx without `Preference-Applied:
tx=rollback` fails the test. The document is fetched over HTTP with the service role's
apikey, like any client would, so the same test runs against a real `supabase start` stack
(CAREBASE_TEST_API_URL). Examples are derandomized and few per operation, so a run is
reproducible and bounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, GenerationMode

from devstack.config import Settings
from tests.auth_target import (
    DEMO_ADMIN,
    DEMO_DOCTOR,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    AuthTarget,
    step_up,
)
from tests.rest_conformance import authenticator_setting, eventually

pytest_plugins = ["tests.rest_conformance"]

NOT_FILTERS = {"select", "order", "limit", "offset", "on_conflict"}
WRITES = {"POST", "PATCH", "DELETE", "PUT"}
# Objects other test modules create for themselves and drop again: not part of the API.
TRANSIENT = r"^/(rpc/)?conformance_"
NO_HOSPITAL = "00000000-0000-4000-8000-000000000000"
NO_ID = "00000000-0000-4000-8000-000000000000"


def _rolled_back(prefer: object) -> str:
    """The fuzzed `Prefer` without any tx= of its own, then `tx=rollback` (the last wins)."""
    items = [] if prefer is None else str(prefer).split(",")
    kept = [i for i in items if i.partition("=")[0].strip().lower() != "tx"]
    return ", ".join([*kept, "tx=rollback"]).lstrip(", ")


@pytest.fixture(scope="module")
def rollback_only(rest_url: str, settings: Settings) -> Iterator[None]:
    """db-tx-end `commit-allow-override` until the module ends, once every worker applies it."""
    probe = httpx.Client(
        base_url=f"{rest_url}/rest/v1",
        headers={"apikey": settings.service_role_key, "Prefer": "tx=rollback"},
    )

    def honoured() -> bool:
        response = probe.delete("/hospitals", params={"id": f"eq.{NO_HOSPITAL}"})
        return "tx=rollback" in response.headers.get("preference-applied", "")

    with probe, authenticator_setting(settings, "db_tx_end", "commit-allow-override"):
        assert eventually(honoured), "the gateway never honoured Prefer: tx=rollback"
        yield


@pytest.fixture(scope="module")
def gateway_document(rest_url: str, settings: Settings, rollback_only: None) -> BaseSchema:
    # The service role's document lists every operation (anon's lists only what anon may use,
    # which is next to nothing); each is then tried as anon and as signed-in staff.
    loaded = schemathesis.openapi.from_url(
        f"{rest_url}/rest/v1/", headers={"apikey": settings.service_role_key}
    )
    return loaded.exclude(path_regex=TRANSIENT)


@contextlib.contextmanager
def _signed_in(rest_url: str, settings: Settings, email: str) -> Iterator[str]:
    """An access token from a real sign-in (password, then the login's TOTP factor: aal2, as
    staff need for clinical records); signed out afterwards."""
    with httpx.Client(
        base_url=f"{rest_url}/auth/v1", headers={"apikey": settings.anon_key}
    ) as auth:
        response = auth.post(
            "/token",
            params={"grant_type": "password"},
            json={"email": email, "password": DEMO_PASSWORD},
        )
        assert response.status_code == 200, response.text
        token = step_up(
            AuthTarget(rest_url, settings), response.json()["access_token"], DEMO_TOTP_SECRET
        )["access_token"]
        yield token
        auth.post("/logout", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module", params=[DEMO_DOCTOR, DEMO_ADMIN], ids=["doctor", "admin"])
def staff_token(request: pytest.FixtureRequest, rest_url: str, settings: Settings) -> Iterator[str]:
    """A demo doctor (clinical records) or hospital admin (staff management), signed in."""
    with _signed_in(rest_url, settings, request.param) as token:
        yield token


@pytest.fixture(scope="module")
def admin_token(rest_url: str, settings: Settings) -> Iterator[str]:
    with _signed_in(rest_url, settings, DEMO_ADMIN) as token:
        yield token


def _as_filters(case: schemathesis.Case) -> schemathesis.Case:
    """Valid input for a row filter is `operator.value`; the document only says "string".
    Valid cases get `eq.` so they reach the database; invalid ones keep their raw text."""
    if not case.operation.path.startswith("/rpc/") and case.query:
        case.query = {k: v if k in NOT_FILTERS else f"eq.{v}" for k, v in case.query.items()}
    return case


def _read_only(case: schemathesis.Case) -> bool:
    """An RPC the document also offers as GET is to a stable function: nothing to roll back."""
    path = case.operation.path
    return path.startswith("/rpc/") and "get" in case.operation.schema.raw_schema["paths"][path]


def _call(case: schemathesis.Case, rest_url: str, settings: Settings, token: str | None) -> None:
    headers = {"apikey": settings.anon_key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    case.headers = {
        **(case.headers or {}),
        "Prefer": _rolled_back((case.headers or {}).get("Prefer")),
    }
    response = case.call(base_url=f"{rest_url}/rest/v1", headers=headers, timeout=30)
    shown = f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and case.method != "HEAD":
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"code", "message", "details", "hint"}, shown
        assert response.status_code < 500, shown
    elif case.method in WRITES and not _read_only(case):
        # One header of comma-separated preferences (`return=minimal, tx=rollback`), which
        # schemathesis hands over as a list of the header's values.
        values = response.headers.get("preference-applied") or []
        applied = {
            p.strip()
            for v in ([values] if isinstance(values, str) else values)
            for p in v.split(",")
        }
        assert "tx=rollback" in applied, f"a write was not rolled back: {shown}"


FUZZ = fuzz_settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _fuzz(document: BaseSchema, call: Callable[[schemathesis.Case], None]) -> None:
    """Every operation of the document, with valid and with invalid input; all failures are
    collected so that one run shows them all."""
    failures = []
    operations = 0
    for result in document.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                strategy = strategy.map(_as_filters)

            @given(case=strategy)
            @FUZZ
            def run(case: schemathesis.Case) -> None:
                call(case)

            try:
                run()
            except Unsatisfiable:
                # No invalid input exists for this operation (e.g. only free-text query
                # parameters); its valid input ran above.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as error:
                failures.append(f"{operation.label} [{mode.value}]: {error}")
    assert operations > 50, f"the document lists only {operations} operations"
    assert not failures, "\n".join(failures)


def test_no_input_from_anon_breaks_the_rest_api(
    gateway_document: BaseSchema, rest_url: str, settings: Settings
) -> None:
    _fuzz(gateway_document, lambda case: _call(case, rest_url, settings, token=None))


def test_no_input_from_signed_in_staff_breaks_the_rest_api(
    gateway_document: BaseSchema, rest_url: str, settings: Settings, staff_token: str
) -> None:
    _fuzz(gateway_document, lambda case: _call(case, rest_url, settings, token=staff_token))


# Each RPC's "not found", asked by the demo admin (who may call them all) with an id nobody
# has: PostgREST's PT404 convention, so a 404 and not the 500 a P0 SQLSTATE would give.
MISSING_ID_CALLS = {
    "accept_staff_invitation": {"invitation_id": NO_ID},
    "book_appointment": {"doctor_id": NO_ID, "starts_at": "2030-01-07T10:00:00Z"},
    "cancel_appointment": {"appointment_id": NO_ID, "reason": "fuzz"},
    "check_conflicts": {
        "doctor_id": NO_ID,
        "starts_at": "2030-01-07T10:00:00Z",
        "ends_at": "2030-01-07T10:30:00Z",
    },
    "reschedule_appointment": {"appointment_id": NO_ID, "starts_at": "2030-01-07T10:00:00Z"},
    "complete_staff_provisioning": {"grant_id": NO_ID, "user_id": NO_ID},
    "decline_staff_invitation": {"invitation_id": NO_ID},
    "merge_patients": {"source_id": NO_ID, "target_id": NO_ID, "reason": "fuzz"},
    "merge_preview": {"source_id": NO_ID, "target_id": NO_ID},
    "retry_notification": {"notification_id": NO_ID},
    "revoke_staff_invitation": {"invitation_id": NO_ID},
    "set_doctor_active": {"doctor_id": NO_ID, "active": False},
    "set_doctor_schedule": {"doctor_id": NO_ID, "hours": []},
    "set_pharmacist_active": {"pharmacist_id": NO_ID, "active": False},
    "unmerge_patients": {"merge_id": NO_ID, "reason": "fuzz"},
    "update_doctor": {"doctor_id": NO_ID, "bio": "fuzz"},
    "update_pharmacist": {"pharmacist_id": NO_ID, "licence_number": "fuzz"},
}


@pytest.mark.parametrize("function", sorted(MISSING_ID_CALLS))
def test_a_missing_id_is_not_found(
    function: str, rest_url: str, settings: Settings, admin_token: str, rollback_only: None
) -> None:
    response = httpx.post(
        f"{rest_url}/rest/v1/rpc/{function}",
        json=MISSING_ID_CALLS[function],
        headers={
            "apikey": settings.anon_key,
            "Authorization": f"Bearer {admin_token}",
            "Prefer": "tx=rollback",
        },
    )
    assert (response.status_code, response.json()["code"]) == (404, "PT404"), response.text
