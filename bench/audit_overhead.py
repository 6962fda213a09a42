"""Audit overhead: what the audit trail costs writes and clinical reads.

Runs on a scratch database of the local cluster (platform shim + migrations, dropped at the
end), so the append-only log of the development database is untouched. Bounded: a fixed
number of operations per round, three alternating rounds, well under a minute.

- Writes: single-row INSERTs into public.patients, one transaction each (as the API does),
  with the audit trigger enabled and disabled in the same run; the ratio of inserts/s.
- Concurrent writes: CLIENTS connections at once, each running booking-shaped transactions
  (insert a patient, then update it twice: three audited writes in three round trips, then
  commit), with the audit trigger enabled and disabled; the ratio of transactions/s. This is
  what the chain head's lock costs when writers overlap.
- Reads: a request as PostgREST runs it (set_config of role, claims, method, path, headers,
  then the pre-request function, then the query, then commit) on a clinical resource, with
  and without public.db_pre_request(); the ratio of requests/s. The reader is a care-team
  doctor (RLS in force, the restrictive disclosed policies included: one READ naming the
  patient per request, the other 19 rows read past the inline check) reading 20 real lab
  results of their patient.

Usage: .venv/bin/python bench/audit_overhead.py   (writes the Audit section of bench/REPORT.md)
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import rewrite_section  # noqa: E402
from devstack import cli  # noqa: E402
from devstack.config import Settings  # noqa: E402
from devstack.migrate import migrated_scratch_database  # noqa: E402

WRITES_PER_ROUND = 1500
READS_PER_ROUND = 1500
READ_ROWS = 20
ROUNDS = 3
CLIENTS = 8
CONCURRENT_SECONDS = 4


def insert_patients(conn: psycopg.Connection, count: int, audited: bool) -> float:
    conn.execute(
        f"alter table public.patients {'enable' if audited else 'disable'} trigger audit_row_change"
    )
    started = time.perf_counter()
    for n in range(count):
        with conn.transaction():
            conn.execute(
                "insert into public.patients (full_name, phone) values (%s, %s)",
                (f"Bench {n}", f"+9197{n % 100000000:08d}"),
            )
    return count / (time.perf_counter() - started)


def concurrent_transactions(dsn: str, conn: psycopg.Connection, audited: bool) -> float:
    """Booking-shaped transactions/s of CLIENTS connections running for CONCURRENT_SECONDS."""
    conn.execute(
        f"alter table public.patients {'enable' if audited else 'disable'} trigger audit_row_change"
    )
    counts = [0] * CLIENTS
    deadline = time.perf_counter() + CONCURRENT_SECONDS

    def client(i: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as own:
            while time.perf_counter() < deadline:
                with own.transaction():
                    (patient,) = own.execute(
                        "insert into public.patients (full_name, phone) values (%s, %s)"
                        " returning id",
                        (f"Concurrent {i}", f"+9196{i:02d}{counts[i] % 1000000:06d}"),
                    ).fetchone()
                    own.execute(
                        "update public.patients set email = %s where id = %s",
                        (f"c{i}.{counts[i]}@bench.carebase", patient),
                    )
                    own.execute(
                        "update public.patients set city = 'Nabha' where id = %s", (patient,)
                    )
                counts[i] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


# A hospital, a doctor on a patient's care team, and READ_ROWS lab results of that patient.
CLINICAL_FIXTURE = """
with doctor as (
    insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
        email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
    values ('00000000-0000-0000-0000-000000000000', %(doctor)s, 'authenticated',
        'authenticated', 'bench.doctor@bench.carebase', '', now(),
        '{"provider": "email", "providers": ["email"]}', '{"full_name": "Bench Doctor"}',
        now(), now())
    returning id
), hospital as (
    insert into public.hospitals (code, name) values ('BENCH', 'Bench Hospital') returning id
), patient as (
    insert into public.patients (full_name, phone) values ('Bench Patient', '+919700000000')
    returning id
)
select doctor.id, hospital.id, patient.id from doctor, hospital, patient
"""


def seed_clinical_reader(conn: psycopg.Connection) -> str:
    """Returns the JWT claims of a care-team doctor whose patient has READ_ROWS lab results."""
    doctor, hospital, patient = conn.execute(CLINICAL_FIXTURE, {"doctor": uuid.uuid4()}).fetchone()
    conn.execute(
        "insert into public.staff_memberships (user_id, hospital_id, role)"
        " values (%s, %s, 'doctor')",
        (doctor, hospital),
    )
    conn.execute(
        "insert into public.patient_registrations (patient_id, hospital_id, mrn)"
        " values (%s, %s, 'BENCH-0001')",
        (patient, hospital),
    )
    conn.execute(
        "insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)"
        " values (%s, %s, %s, 'doctor')",
        (patient, hospital, doctor),
    )
    conn.execute(
        "insert into public.lab_results (patient_id, hospital_id, recorded_by, test_name,"
        " result_value, status, test_date)"
        " select %s, %s, %s, 'Test ' || n, n::text, 'normal', current_date - n"
        " from generate_series(1, %s) as n",
        (patient, hospital, doctor, READ_ROWS),
    )
    # aal2: staff read clinical records only in a session verified with their TOTP factor.
    return json.dumps({"role": "authenticated", "sub": str(doctor), "aal": "aal2"})


def clinical_requests(
    conn: psycopg.Connection, claims: str, count: int, pre_request: bool
) -> float:
    # Without the access log the request carries no method: the disclosed policies then
    # log nothing either (as for a SQL session), so the baseline is the bare RLS read.
    method = "POST" if pre_request else ""
    started = time.perf_counter()
    for n in range(count):
        with conn.transaction():
            conn.execute(
                "select set_config('role', 'authenticated', true),"
                " set_config('request.jwt.claims', %s, true),"
                " set_config('request.method', %s, true),"
                " set_config('request.path', '/lab_results', true),"
                " set_config('request.headers', %s, true)",
                (
                    claims,
                    method,
                    json.dumps({"x-request-id": f"bench-{n}", "user-agent": "bench"}),
                ),
            )
            if pre_request:
                conn.execute("select public.db_pre_request()")
            rows = conn.execute(
                "select * from public.lab_results order by test_date desc limit %s", (READ_ROWS,)
            ).fetchall()
            if len(rows) != READ_ROWS:
                raise RuntimeError(f"the clinical read returned {len(rows)} rows, not {READ_ROWS}")
    return count / (time.perf_counter() - started)


def write_report(section: str) -> None:
    rewrite_section(section)


def main() -> None:
    settings = Settings.from_env()
    cli.start(settings)
    with (
        migrated_scratch_database(settings) as name,
        psycopg.connect(settings.dsn(dbname=name), autocommit=True) as conn,
    ):
        claims = seed_clinical_reader(conn)
        with_audit, without_audit, with_log, without_log = [], [], [], []
        concurrent_on, concurrent_off = [], []
        dsn = settings.dsn(dbname=name)
        for _ in range(ROUNDS):
            without_audit.append(insert_patients(conn, WRITES_PER_ROUND, audited=False))
            with_audit.append(insert_patients(conn, WRITES_PER_ROUND, audited=True))
            concurrent_off.append(concurrent_transactions(dsn, conn, audited=False))
            concurrent_on.append(concurrent_transactions(dsn, conn, audited=True))
            without_log.append(clinical_requests(conn, claims, READS_PER_ROUND, pre_request=False))
            with_log.append(clinical_requests(conn, claims, READS_PER_ROUND, pre_request=True))
        (entries,) = conn.execute("select count(*) from audit.log").fetchone()
        (valid,) = conn.execute("select valid from private.verify_audit_chain()").fetchone()

    w_on, w_off = statistics.median(with_audit), statistics.median(without_audit)
    r_on, r_off = statistics.median(with_log), statistics.median(without_log)
    c_on, c_off = statistics.median(concurrent_on), statistics.median(concurrent_off)
    section = (
        "## Audit\n\n"
        "`bench/audit_overhead.py`: scratch database on the local cluster, one connection "
        f"(the concurrent row: {CLIENTS}), {ROUNDS} alternating rounds, medians. Each operation "
        "is its own transaction.\n\n"
        "| measure | without | with | ratio (with / without) |\n|---|---|---|---|\n"
        f"| single-row INSERT into patients, audit trigger ({WRITES_PER_ROUND}/round) | "
        f"{w_off:,.0f}/s | {w_on:,.0f}/s | {w_on / w_off:.2f} |\n"
        f"| booking-shaped transaction (insert a patient, update it twice, commit), {CLIENTS} "
        f"connections at once ({CONCURRENT_SECONDS} s/round) | "
        f"{c_off:,.0f}/s | {c_on:,.0f}/s | {c_on / c_off:.2f} |\n"
        f"| clinical read request ({READ_ROWS} lab results, as a care-team doctor under RLS),"
        f" access log: pre-request entry and a READ naming the patient ({READS_PER_ROUND}/round) | "
        f"{r_off:,.0f}/s | {r_on:,.0f}/s | {r_on / r_off:.2f} |\n\n"
        f"{entries:,} audit entries written in the run; chain verified: {valid}. "
        "Entries are hashed into the chain when their transaction commits, the chain head locked "
        "from then to the commit only; the concurrent row is what that lock costs writers that "
        "overlap (see docs/field-encryption.md).\n"
    )
    write_report(section)
    print(section)


if __name__ == "__main__":
    main()
