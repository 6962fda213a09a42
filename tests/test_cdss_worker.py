"""The CDSS worker against a local fake of the model service (issue 20, item 2), as the doctor
and the patient see it over the REST API: a requested analysis is run on de-identified inputs
and recorded with the model and the hash of what was sent; the patient sees nothing until the
doctor reviews it; a model that keeps failing leaves the analysis failed, with no finding. The
database's rules are in supabase/tests/cdss_analyses.test.sql."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.integrations.cdss_model import CdssModelClient
from sidecar.integrations.supabase_api import SupabaseApi
from sidecar.jobs.cdss import CdssWorker, inputs_sha256
from sidecar.settings import SidecarSettings
from tests.fakes.cdss_model import FakeCdssModel

DOCTOR = "dr.sandhu@nabha.carebase.test"
HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"  # on Dr. Sandhu's care team, with a login
PATIENT_USER = "50000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[FakeCdssModel, str]]:
    fake = FakeCdssModel()
    with LocalServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def scan(stack: Settings) -> Iterator[str]:
    """An acquired ECG of Dr. Sandhu's patient; removed afterwards with its analyses."""
    with psycopg.connect(stack.dsn(), autocommit=True) as conn:
        (doctor,) = conn.execute("select id from auth.users where email = %s", (DOCTOR,)).fetchone()
        (scan_id,) = conn.execute(
            "insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality,"
            " study_type) values (%s, %s, %s, 'ECG', 'Resting ECG') returning id::text",
            (PATIENT, HOSPITAL, doctor),
        ).fetchone()
        conn.execute(
            "update public.radiology_scans set status = 'acquired' where id = %s", (scan_id,)
        )
    yield scan_id
    with psycopg.connect(stack.dsn(stack.admin_user)) as conn:
        conn.execute("set local session_replication_role = replica")
        (ids,) = conn.execute(
            "select coalesce(array_agg(id), '{}') from public.cdss_analyses where scan_id = %s",
            (scan_id,),
        ).fetchone()
        conn.execute("delete from private.outbox where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.status_history where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.cdss_analyses where scan_id = %s", (scan_id,))
        conn.execute("delete from public.status_history where subject_id = %s", (scan_id,))
        conn.execute("delete from public.radiology_scans where id = %s", (scan_id,))


def rest(stack: Settings, user: str, aal: str = "aal2") -> httpx.Client:
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(user, aal)
    return httpx.Client(
        base_url=f"{stack.api_url}/rest/v1",
        headers={
            "apikey": stack.anon_key,
            "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
        },
        timeout=30,
    )


async def run_worker(stack: Settings, model_url: str, attempts: int = 5) -> int:
    settings = SidecarSettings(
        supabase_url=stack.api_url,
        cdss_model_base_url=model_url,
        cdss_model_api_key="model-key",
        worker_max_attempts=attempts,
    )
    async with httpx.AsyncClient() as http:
        model = CdssModelClient(model_url, "model-key", http, 10)
        return await CdssWorker(settings, SupabaseApi(settings, http), model).run_once()


def analyses(client: httpx.Client, scan_id: str) -> list[dict]:
    response = client.post("/rpc/cdss_analyses", json={"scan_id": scan_id})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_result_reaches_the_patient_only_after_the_doctors_review(
    stack: Settings, gateway: str, scan: str, model: tuple[FakeCdssModel, str]
) -> None:
    fake, url = model
    fake.fail_with = None
    with rest(stack, DOCTOR) as doctor, rest(stack, PATIENT_USER) as patient:
        requested = doctor.post(
            "/rpc/request_cdss_analysis", json={"scan_id": scan, "analysis_type": "ecg_arrhythmia"}
        )
        assert requested.status_code == 200, requested.text
        assert asyncio.run(run_worker(stack, url)) == 1

        [seen] = analyses(doctor, scan)
        sent = fake.received[-1]
        assert (seen["status"], seen["reviewed"], seen["severity"]) == ("completed", False, "high")
        assert seen["findings"] == ["Atrial fibrillation with rapid ventricular response"]
        assert (seen["model_name"], seen["inputs_sha256"]) == (
            "fake-ecg_arrhythmia",
            inputs_sha256(sent),
        )
        assert set(sent) == {
            "analysis_type",
            "modality",
            "study_type",
            "age_years",
            "sex",
            "images",
        }
        assert analyses(patient, scan) == [], "unreviewed: not the patient's to see"

        override = doctor.post(
            "/rpc/review_cdss_analysis", json={"analysis_id": seen["id"], "decision": "override"}
        )
        assert (override.status_code, override.json()["details"]) == (400, "reason_required")
        accepted = doctor.post(
            "/rpc/review_cdss_analysis", json={"analysis_id": seen["id"], "decision": "accept"}
        )
        assert accepted.status_code == 200, accepted.text
        [shown] = analyses(patient, scan)
        assert (shown["status"], shown["findings"]) == ("accepted", seen["findings"])


def test_a_model_that_keeps_failing_leaves_the_analysis_failed_not_normal(
    stack: Settings, gateway: str, scan: str, model: tuple[FakeCdssModel, str]
) -> None:
    fake, url = model
    fake.fail_with = 503
    try:
        with rest(stack, DOCTOR) as doctor:
            doctor.post(
                "/rpc/request_cdss_analysis",
                json={"scan_id": scan, "analysis_type": "risk_stratification"},
            )
            assert asyncio.run(run_worker(stack, url, attempts=1)) == 1
            [seen] = analyses(doctor, scan)
    finally:
        fake.fail_with = None
    assert (seen["status"], seen["severity"]) == ("failed", None)
    assert "findings" not in seen and "503" in seen["error"]
