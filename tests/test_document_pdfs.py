"""Invoice and prescription PDFs with a verification QR code (issue 18, item 5), as the
patient and whoever scans the code see them: the prescription's QR token verifies ("valid
prescription issued by Dr ...") and, once the prescription is cancelled (or changed), the same
token says so; re-encrypting its content (a key rotation) keeps both its token and one printed
before 20261213161000 valid, another medication shows as changed; a tampered token is refused;
a patient gets a signed URL to his own invoice's PDF, which carries its number, and a 404 for
another patient's invoice; without its fonts a PDF is refused, never printed in boxes.

Runs on the demo hospital (seed.sql): Dr. Sandhu prescribes for and the front desk bills
Balwinder Singh; Paramjit Kaur is the other patient. What the run made is removed afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from devstack.config import Settings
from devstack.gateway.tokens import issue
from devstack.local_server import LocalServer
from devstack.postgrest_session import PostgrestSession
from sidecar.app import create_app
from sidecar.documents import render, tokens
from sidecar.settings import SidecarSettings

HOSPITAL = "10000000-0000-4000-8000-000000000001"
PATIENT = "60000000-0000-4000-8000-000000000001"  # Balwinder Singh
PATIENT_LOGIN = "50000000-0000-4000-8000-000000000001"
OTHER_LOGIN = "50000000-0000-4000-8000-000000000002"  # Paramjit Kaur
DOCTOR = "dr.sandhu@nabha.carebase.test"
FRONT_DESK = "frontdesk@nabha.carebase.test"
SECRET = "test-document-signing-secret"
MEDICATIONS = (
    '[{"medicine": "Metformin", "strength": "500 mg", "dosage": "1 tablet",'
    ' "frequency": "twice a day", "quantity": 60}]'
)


@pytest.fixture(scope="module")
def made(stack: Settings) -> Iterator[dict[str, list[str]]]:
    """The invoices and prescriptions the module made, removed afterwards."""
    rows: dict[str, list[str]] = {"invoices": [], "prescriptions": []}
    yield rows
    invoices = [uuid.UUID(i) for i in rows["invoices"]]
    prescriptions = [uuid.UUID(p) for p in rows["prescriptions"]]
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute(
            "delete from public.status_history where subject_id = any(%s)",
            (invoices + prescriptions,),
        )
        conn.execute("delete from public.invoice_lines where invoice_id = any(%s)", (invoices,))
        conn.execute("delete from public.invoices where id = any(%s)", (invoices,))
        conn.execute(
            "delete from public.prescription_items where prescription_id = any(%s)",
            (prescriptions,),
        )
        conn.execute(
            "delete from private.prescription_sealed_hashes where prescription_id = any(%s)",
            (prescriptions,),
        )
        conn.execute("delete from public.prescriptions where id = any(%s)", (prescriptions,))
        conn.execute(
            "delete from storage.objects where bucket_id = 'document-pdfs'"
            " and split_part(name, '/', 2) = any(%s)",
            ([str(i) for i in invoices + prescriptions],),
        )


@pytest.fixture(scope="module")
def sidecar(stack: Settings, gateway: str) -> Iterator[str]:
    settings = SidecarSettings(supabase_url=stack.api_url, document_signing_secret=SECRET)
    with LocalServer(create_app(settings), lifespan="on") as server:
        yield server.url


def token_of(stack: Settings, login: str) -> str:
    with psycopg.connect(stack.dsn()) as conn:
        return issue(PostgrestSession(conn).claims_for(login), stack.jwt_secret)


def get(url: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=30)


def test_a_prescription_pdf_verifies_until_it_is_cancelled(
    stack: Settings, sidecar: str, made: dict[str, list[str]]
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        session.become(
            session.claims_for(DOCTOR, aal="aal2"), "POST", "/rest/v1/rpc/issue_prescription"
        )
        (issued,) = conn.execute(
            "select (public.issue_prescription(%s, %s::jsonb, hospital_id => %s)).id",
            (PATIENT, MEDICATIONS, HOSPITAL),
        ).fetchone()
    prescription = str(issued)
    made["prescriptions"].append(prescription)

    answer = get(
        f"{sidecar}/api/v1/prescriptions/{prescription}/pdf", token_of(stack, PATIENT_LOGIN)
    )
    assert answer.status_code == 200, answer.text
    pdf = httpx.get(answer.json()["url"], timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    verify_url = answer.json()["verify_url"]
    assert "Balwinder" not in verify_url and PATIENT not in verify_url

    verified = get(verify_url).json()
    assert verified["valid"] is True and verified["kind"] == "prescription"
    assert verified["message"].startswith("valid prescription issued by Dr")
    assert "Balwinder" not in str(verified)

    token = verify_url.rsplit("/", 1)[1]
    hashed = token.split(".")[0]
    flipped = hashed[:-1] + ("0" if hashed[-1] != "0" else "1")
    for forged in (f"{flipped}.{token.split('.')[1]}", token[:-2] + "AA"):
        refused = get(f"{sidecar}/api/v1/verify/{forged}")
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_token"

    # A token printed before 20261213161000 (version 1: the sealed bytes' hash, recorded as the
    # migration does for the prescriptions it found).
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute("select private.record_prescription_sealed_hashes()")
        (sealed,) = conn.execute(
            "select private.prescription_sealed_hash(%s)", (prescription,)
        ).fetchone()
    old = tokens.sign(
        SECRET, tokens.DocumentRef("prescription", uuid.UUID(prescription), sealed, version=1)
    )
    assert not old.startswith("2") and token.startswith("2p")
    old_url = f"{sidecar}/api/v1/verify/{old}"
    assert get(old_url).json()["valid"] is True

    # Re-encrypting the same content (what a key rotation does) changes neither answer.
    def rewrite(statement: str) -> None:
        with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
            conn.execute(statement, (prescription,))

    rewrite(
        "update public.prescription_items"
        " set details = private.encrypt_field(private.decrypt_field(details))"
        " where prescription_id = %s"
    )
    for url in (verify_url, old_url):
        again = get(url).json()
        assert again["valid"] is True and again["message"].startswith("valid prescription"), url

    # Another medication in the same sealed place: both show the change.
    rewrite(
        "update public.prescription_items set details = private.encrypt_field("
        "replace(private.decrypt_field(details), 'Metformin', 'Glimepiride'))"
        " where prescription_id = %s"
    )
    for url in (verify_url, old_url):
        altered = get(url).json()
        assert altered["valid"] is False and altered["content_matches"] is False, url
        assert altered["message"].startswith("changed")
    rewrite(
        "update public.prescription_items set details = private.encrypt_field("
        "replace(private.decrypt_field(details), 'Glimepiride', 'Metformin'))"
        " where prescription_id = %s"
    )
    assert get(verify_url).json()["valid"] is True

    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute(
            "update public.prescriptions set status = 'cancelled', status_reason = 'test'"
            " where id = %s",
            (prescription,),
        )
    cancelled = get(verify_url).json()
    assert cancelled["valid"] is False and cancelled["status"] == "cancelled"
    assert cancelled["message"].startswith("CANCELLED")

    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        conn.execute(
            "update public.prescriptions set valid_until = valid_until + interval '1 year'"
            " where id = %s",
            (prescription,),
        )
    changed = get(verify_url).json()
    assert changed["valid"] is False and changed["content_matches"] is False
    assert changed["message"].startswith("changed")


def test_a_patient_gets_his_invoice_pdf_and_not_anothers(
    stack: Settings, sidecar: str, made: dict[str, list[str]]
) -> None:
    with psycopg.connect(stack.dsn()) as conn:
        session = PostgrestSession(conn)
        session.become(session.claims_for(FRONT_DESK), "POST", "/rest/v1/rpc/issue_invoice")
        (invoice,) = conn.execute(
            "insert into public.invoices (hospital_id, patient_id) values (%s, %s) returning id",
            (HOSPITAL, PATIENT),
        ).fetchone()
        conn.execute(
            "insert into public.invoice_lines (invoice_id, description, hsn_sac, unit_price)"
            " values (%s, 'Consultation', '999312', 500)",
            (invoice,),
        )
        conn.execute("select public.issue_invoice(%s)", (invoice,))
        (number,) = conn.execute(
            "select number from public.invoices where id = %s", (invoice,)
        ).fetchone()
    made["invoices"].append(str(invoice))

    url = f"{sidecar}/api/v1/invoices/{invoice}/pdf"
    answer = get(url, token_of(stack, PATIENT_LOGIN))
    assert answer.status_code == 200, answer.text
    pdf = httpx.get(answer.json()["url"], timeout=30).content
    assert pdf.startswith(b"%PDF") and number.encode() in pdf
    again = get(url, token_of(stack, PATIENT_LOGIN)).json()
    assert (
        again["url"].split("?")[0] == answer.json()["url"].split("?")[0]
    )  # reused, not re-rendered
    assert get(again["verify_url"]).json()["message"].startswith(f"valid invoice {number}")

    other = get(url, token_of(stack, OTHER_LOGIN))
    assert other.status_code == 404 and other.json()["code"] == "invoice_not_found"


def test_without_the_fonts_a_pdf_is_refused_rather_than_printed_in_boxes(tmp_path: Path) -> None:
    with pytest.raises(render.FontsMissing, match="fonts-noto-core"):
        render.prescription_pdf(
            {"status": "pending"}, {"name": "H"}, {"name": "Dr A"}, "ਬਲਵਿੰਦਰ", "x", str(tmp_path)
        )


def test_documents_rendered_at_once_share_the_fonts_and_print_the_same(tmp_path: Path) -> None:
    """The fonts are parsed once per process and shared by the route's rendering threads: each
    document still gets its own glyph subset, so concurrent renders print exactly what one
    render alone prints."""

    def invoice(name: str) -> bytes:
        return render.invoice_pdf(
            {"number": "NAB/2026-27/000009", "status": "issued", "total": 500, "currency": "INR"},
            [
                {
                    "line_no": 1,
                    "description": "Consultation",
                    "hsn_sac": "999312",
                    "quantity": 1,
                    "unit_price": 500,
                    "gst_rate": 0,
                    "cgst": 0,
                    "sgst": 0,
                    "igst": 0,
                    "line_total": 500,
                }
            ],
            [],
            {"name": "Civil Hospital Nabha"},
            name,
            "https://verify.test/t",
        )

    def same(pdf: bytes) -> bytes:
        return re.sub(rb"/(CreationDate|ModDate) \(D:[^)]*\)|/ID \[[^\]]*\]", b"", pdf)

    names = ["बलविंदर सिंह", "ਬਲਵਿੰਦਰ ਸਿੰਘ", "Harpreet Kaur"]
    alone = [same(invoice(name)) for name in names]
    with ThreadPoolExecutor(3) as pool:
        together = [same(pdf) for pdf in pool.map(invoice, names)]
    assert together == alone
    assert len(set(alone)) == 3, "each name is in its own document"
