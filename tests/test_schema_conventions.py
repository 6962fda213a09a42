"""DESIGN.md's database conventions, checked on the migrated schema rather than trusted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime

import psycopg
import pytest
from psycopg import sql

from devstack.config import Settings
from tests.conftest import ScratchDatabase


@pytest.fixture(scope="module")
def db(migrated_db: ScratchDatabase) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_db.dsn()) as conn:
        yield conn


def names(db: psycopg.Connection, query: str) -> list[str]:
    return [row[0] for row in db.execute(query)]


def test_every_public_table_has_row_level_security_and_policies(db: psycopg.Connection) -> None:
    tables = names(
        db,
        "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
        " and c.relkind in ('r', 'p')",
    )
    assert tables, "the migrations create public tables"
    unprotected = names(
        db,
        "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
        " and c.relkind in ('r', 'p') and not c.relrowsecurity",
    )
    without_policy = names(
        db,
        "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
        " and c.relkind in ('r', 'p') and not exists (select from pg_policy p"
        " where p.polrelid = c.oid and 'authenticated'::regrole = any(p.polroles))",
    )
    assert unprotected == []
    assert without_policy == []


def test_realtime_streams_only_tables_with_rls_and_never_clinical_records(
    db: psycopg.Connection,
) -> None:
    """Postgres Changes send each published table's rows to subscribers as their RLS allows;
    clinical records are read only through logged calls, which Realtime cannot make."""
    published = names(
        db, "select tablename from pg_publication_tables where pubname = 'supabase_realtime'"
    )
    assert "appointments" in published
    unprotected = names(
        db,
        "select p.tablename from pg_publication_tables p"
        " join pg_namespace n on n.nspname = p.schemaname"
        " join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename"
        " where p.pubname = 'supabase_realtime' and not c.relrowsecurity",
    )
    clinical = names(
        db,
        "select p.tablename from pg_publication_tables p"
        " join private.audited_resources r on r.resource = p.tablename"
        " where p.pubname = 'supabase_realtime' and p.schemaname = 'public'",
    )
    assert unprotected == []
    assert clinical == []


def test_anonymous_requests_hold_no_privilege_on_any_public_table(db: psycopg.Connection) -> None:
    granted = names(
        db,
        "select c.relname from pg_class c where c.relnamespace = 'public'::regnamespace"
        " and c.relkind in ('r', 'p', 'v', 'm')"
        " and has_table_privilege('anon', c.oid, 'select, insert, update, delete')",
    )
    assert granted == []


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
def test_every_relation_a_role_may_select_it_can_read_to_the_bottom(
    db: psycopg.Connection, role: str
) -> None:
    # A grant on the view or table is not enough: the relations its policies and view bodies
    # read (private views such as private.prescription_lines) are checked as the role too, and
    # a missing grant there answers 42501 only when someone reads it.
    relations = db.execute(
        "select n.nspname, c.relname from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm')"
        " and has_table_privilege(%s, c.oid, 'select')",
        (role,),
    ).fetchall()
    assert relations
    refused = []
    for schema, name in relations:
        with db.transaction(force_rollback=True):
            db.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            try:
                with db.transaction():
                    db.execute(
                        sql.SQL("select * from {} limit 0").format(sql.Identifier(schema, name))
                    )
            except psycopg.errors.InsufficientPrivilege as error:
                refused.append(f"{schema}.{name}: {error.diag.message_primary}")
    assert refused == []


def test_security_definer_functions_live_only_in_private(db: psycopg.Connection) -> None:
    exposed = names(
        db,
        "select p.proname from pg_proc p where p.pronamespace = 'public'::regnamespace"
        " and p.prosecdef",
    )
    assert exposed == []


# The access helpers the planner must see through (issue 12): SQL functions inlined into the
# caller's query, which Postgres does only for a function without `set search_path` and without
# security definer. They say so in their comment, and qualify every name and operator instead.
INLINED_FUNCTIONS = """
    select n.nspname || '.' || p.proname, p.prosrc, l.lanname
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    join pg_language l on l.oid = p.prolang
    where n.nspname in ('public', 'private')
        and obj_description(p.oid, 'pg_proc') like 'Inlined into the caller''s query.%'
"""


def test_every_project_function_pins_its_search_path(db: psycopg.Connection) -> None:
    unpinned = names(
        db,
        "select n.nspname || '.' || p.proname from pg_proc p"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'private')"
        " and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')"
        " and not coalesce(p.proconfig, '{}') @> array['search_path=\"\"']",
    )
    inlined = names(db, INLINED_FUNCTIONS)
    assert inlined, "the access helpers are inlined"
    assert sorted(unpinned) == sorted(inlined)


def test_inlined_functions_qualify_every_name_and_are_inlined(db: psycopg.Connection) -> None:
    """Their body is parsed with the caller's search_path, so nothing in it may depend on it;
    and a change that stops Postgres inlining one (a `set` clause, security definer, plpgsql)
    would quietly cost a function call per row."""
    unqualified_call = re.compile(
        r"(?<![.\w])(?!(?:select|where|and|or|not|exists|case|when|then|else|end|coalesce|nullif|operator|any)\b)([a-z_]\w*)\s*\("
    )
    bare_operator = re.compile(r"(?<!operator\(pg_catalog\.)(\|\||<>|!=|<=|>=|(?<![:=<>!])=(?!>))")
    for name, body, language in db.execute(INLINED_FUNCTIONS).fetchall():
        code = re.sub(r"'[^']*'", "''", re.sub(r"--[^\n]*", "", body))
        assert language == "sql", name
        assert unqualified_call.findall(code) == [], name
        assert bare_operator.findall(code) == [], name
        security_definer, config = db.execute(
            "select prosecdef, proconfig from pg_proc where oid = %s::regproc", (name,)
        ).fetchone()
        assert (security_definer, config) == (False, None), name
    plan = db.execute(
        "explain (verbose, costs off) select private.staff_hospital_ids('{front_desk}'),"
        " private.own_doctor_ids(), private.own_pharmacy_ids(), private.patient_hospital_ids()"
    ).fetchall()
    output = " ".join(line for (line,) in plan)
    assert "current_setting" in output
    assert not re.search(
        r"private\.(staff_hospital_ids|own_doctor_ids|own_pharmacy_ids|patient_hospital_ids)\(",
        output,
    )


def test_splinter_exempts_exactly_the_inlined_functions(
    db: psycopg.Connection, stack: Settings
) -> None:
    text = (stack.repo_root / "postgres-language-server.jsonc").read_text()
    config = json.loads(re.sub(r"^\s*//[^\n]*", "", text, flags=re.MULTILINE))
    rule = config["splinter"]["rules"]["security"]["functionSearchPathMutable"]
    assert sorted(rule["options"]["ignore"]) == sorted(names(db, INLINED_FUNCTIONS))


def test_no_policy_hides_an_inlined_helper_in_a_scalar_subquery(db: psycopg.Connection) -> None:
    """`(select private.staff_hospital_ids(...))` runs once per statement but hides its value
    from the planner, which then estimates a patient's 8 appointments at half the table."""
    inlined = "|".join(re.escape(name) for name in names(db, INLINED_FUNCTIONS))
    wrapped = re.compile(rf"select\s+({inlined})\(", re.IGNORECASE)
    policies = db.execute(
        "select c.relname || ' ' || pol.polname, concat(pg_get_expr(pol.polqual, pol.polrelid),"
        " ' ', pg_get_expr(pol.polwithcheck, pol.polrelid))"
        " from pg_policy pol join pg_class c on c.oid = pol.polrelid"
    ).fetchall()
    hidden = [name for name, expression in policies if wrapped.search(expression)]
    assert hidden == []


def test_every_foreign_key_is_indexed(db: psycopg.Connection) -> None:
    # Covered: a full (non-partial) index starts with the key's columns, or a unique index
    # over some of them pins each lookup to at most one row.
    uncovered = names(
        db,
        """
        select c.conrelid::regclass || ' ' || c.conname
        from pg_constraint c
        where c.contype = 'f'
          and c.connamespace in ('public'::regnamespace, 'private'::regnamespace)
          and not exists (
              select from pg_index i
              where i.indrelid = c.conrelid
                and i.indpred is null
                and (
                    (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                    or (i.indisunique and c.conkey @> (i.indkey::int2[])[0:i.indnkeyatts - 1])
                )
          )
        order by 1
        """,
    )
    assert uncovered == []


def test_every_patient_reference_refuses_a_merged_patient(db: psycopg.Connection) -> None:
    """A table that references a patient (what a merge moves, read from the catalog) carries
    private.refuse_merged_patient over each such column, so a merged record takes nothing new:
    a table added later needs `create trigger refuse_merged_patient ... ('<its columns>')`."""
    uncovered = names(
        db,
        """
        select r.table_name::text || '.' || r.column_name
        from private.patient_reference_columns() as r
        where not exists (
            select from pg_trigger as t
            where t.tgrelid = r.table_name
              and t.tgfoid = 'private.refuse_merged_patient'::regproc
              and strpos(pg_get_triggerdef(t.oid), quote_literal(r.column_name::text)) > 0
        )
        order by 1
        """,
    )
    assert uncovered == []


@pytest.mark.parametrize(
    "shim_only",
    [
        r"\b_devstack\b",
        r"\bsupabase_admin\b",
        r"\bcreate\s+role\b",
        r"\bcreate\s+event\s+trigger\b",
        r"\bvault\._\w+",  # the shim's own Vault internals; Supabase Vault's differ
        r"\balter\s+system\b",
    ],
)
def test_migrations_rely_on_nothing_only_the_shim_provides(stack: Settings, shim_only: str) -> None:
    """They must apply unchanged on a Supabase project, where these are not the project's."""
    offenders = [
        path.name
        for path in stack.migrations_dir.glob("*.sql")
        if re.search(shim_only, path.read_text(), re.IGNORECASE)
    ]
    assert offenders == []


def test_migration_versions_are_utc_timestamps_unique_and_increasing(stack: Settings) -> None:
    """`supabase db push` orders by version; a 16-digit one would sort after every later day."""
    versions = [path.name.split("_", 1)[0] for path in sorted(stack.migrations_dir.glob("*.sql"))]
    assert versions, "the project has migrations"
    malformed = [v for v in versions if not re.fullmatch(r"\d{14}", v)]
    assert malformed == []
    for version in versions:
        datetime.strptime(version, "%Y%m%d%H%M%S")  # a real date and time, or ValueError
    assert len(set(versions)) == len(versions), "no version is used twice"
    assert versions == sorted(versions, key=int), "file order is version order"


def test_every_exposed_table_view_and_function_has_a_comment(db: psycopg.Connection) -> None:
    """The catalog documents the API: the OpenAPI document, Studio and generated client types
    show these comments, so an object added without one fails here until it has one."""
    relations = names(
        db,
        """
        select c.relname from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and not exists (select from pg_depend d where d.objid = c.oid and d.deptype = 'e')
          and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r(role)
                      where has_any_column_privilege(r.role, c.oid, 'select, insert, update'))
          and coalesce(btrim(obj_description(c.oid, 'pg_class')), '') = ''
        order by 1
        """,
    )
    functions = names(
        db,
        """
        select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')
          and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r(role)
                      where has_function_privilege(r.role, p.oid, 'execute'))
          and coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = ''
        order by 1
        """,
    )
    types = names(
        db,
        """
        select t.typname from pg_type t
        where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'c')
          and (t.typrelid = 0 or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
          and not exists (select from pg_depend d where d.objid = t.oid and d.deptype = 'e')
          and coalesce(btrim(obj_description(t.oid, 'pg_type')), '') = ''
        order by 1
        """,
    )
    assert relations == []
    assert functions == []
    assert types == []


def test_encrypted_and_status_columns_of_exposed_tables_have_a_comment(
    db: psycopg.Connection,
) -> None:
    """Columns whose meaning the name cannot carry: ciphertext (bytea: what is inside, how it
    is read) and status columns (which state machine moves them)."""
    undocumented = names(
        db,
        """
        select c.relname || '.' || a.attname from pg_class c
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
          and (a.atttypid = 'bytea'::regtype or a.attname = 'status')
          and exists (select from unnest(array['anon', 'authenticated', 'service_role']) r(role)
                      where has_table_privilege(r.role, c.oid, 'select, insert, update'))
          and coalesce(btrim(col_description(c.oid, a.attnum)), '') = ''
        order by 1
        """,
    )
    assert undocumented == []


# Functions a later migration must create again, and why. Every other function is created in
# exactly one migration, in its final form, so that its body has one place to read.
RECREATED_FUNCTIONS = {
    "private.enter_journey_stage": "20261214181000 runs the actions of a stage entered"
    " automatically (an event, time) as the system, not with the rights of whoever raised the"
    " event",
    "private.document_content_hash": "20261213161000 hashes a prescription's clear content, so"
    " that re-encrypting it (a key rotation) does not show its printouts as changed",
    "public.document_verification": "20261213161000 adds the hashes a token printed before"
    " may carry (content_hashes_v1)",
    "private.encrypt_field": "20261213160000 encrypts with a salted, not iterated S2K"
    " (s2k-mode=1): the keys are random secrets, and the iterations cost ~1 ms a value",
    "public.add_note_addendum": "20261212200000 takes the addendum's reason (correction,"
    " clarification, late_entry, addition)",
    "private.read_clinical_note": "20261212200000 returns the addenda through the shared"
    " private.note_addenda, with their reason",
    "private.run_journey_action": "20261212101000 hands book_follow_up to"
    " private.book_journey_follow_up, which books the follow-up visit (a ticket when it cannot)",
    "public.search_messages": "20261214000000 takes a policy-bound caller's matches from"
    " private.search_messages_in_reach, so that the GIN index drives the search under RLS, and"
    " builds the JSON of the page's rows only (a common word cost seconds on 1M messages)",
    "private.verify_audit_chain": "20261209100000 links the stretches archived after the"
    " retention period (audit.archived_runs) in place of their rows",
    "private.notify_critical_lab_result": "20261210150000 takes its recipients from the shared"
    " private.critical_result_recipients, which CDSS alerts use too",
    "private.complete_provisioning_grant": "20261210130000 answers the membership for a role"
    " without a profile row (nurse, front desk, CRO, admin)",
    "public.financial_snapshot": "20261214060000 reads the money per hospital-day from the"
    " revenue summary and the open invoices from a covering index instead of dating every"
    " invoice: the snapshot over 1M payments",
    "private.report_revenue": "20261214060000 reads the per-day revenue summary"
    " (private.revenue_groups) instead of the facts: the reports over 1M payments",
    "private.report_dashboard": "20261214060000 takes its revenue from the summary"
    " (private.revenue_collected): the dashboard over 1M payments",
    "private.revenue_facts": "20261212001000 reads only the period's events (by hospital and"
    " moment, on indexes) before joining their invoices: the reports over 1M payments",
    "public.receive_razorpay_webhook": "20261212000000 goes through"
    " private.receive_razorpay_event, which applies payment link events after the inbox",
    "private.receive_calcom_webhook": "20261207000000 records through the shared"
    " private.inbox_record",
    "private.receive_vapi_message": "20261207000000 records through the shared"
    " private.inbox_record",
    "private.voice_caller": "20261207233000 finds the number's carriers with"
    " private.phone_carriers",
    "private.voice_caller_context": "20261207233000 finds the number's carriers with"
    " private.phone_carriers",
    "private.request_voice_callback_by_sms": "20261207233000 finds the number's carriers with"
    " private.phone_carriers",
    "private.copilot_close_session": "20261209000000 writes the session's facts and takes the"
    " tokens the summary cost (a new signature: dropped and created)",
    "public.copilot_close_session": "20261209000000 takes the tokens the summary cost (a new"
    " signature: dropped and created)",
    "private.read_voice_session": "20261208000000 reads only voice sessions: a copilot session"
    " of a hospital's staff is not the front desk's to read",
    "private.calcom_booking_snapshot": "20261207100300 passes on the appointment id carebase"
    " tags its own Cal.com bookings with",
    "private.calendar_apply_booking": "20261207100300 finds the appointment of a booking carebase"
    " pushed before the worker recorded its uid, and keeps a change waiting to be pushed",
    "private.find_patients_by_identifier": "20261202100002 keeps identifiers per hospital; the"
    " SQL body reads a column and calls a function created there, and 20261123000300's SQL"
    " find_patient_by_identifier needs the function when it is created",
    "private.own_doctor_ids": "20261204000100 inlines it so the planner sees the caller's reach",
    "private.own_pharmacy_ids": "20261204000100 inlines it so the planner sees the caller's reach",
    "private.patient_hospital_ids": "20261204000100 inlines it so the planner sees the caller's"
    " reach",
    "private.staff_hospital_ids": "20261204000100 inlines it so the planner sees the caller's"
    " reach",
    "public.find_slots": "20261204001000 computes the busy time once per request, not once per"
    " slot",
    "public.appointment_stats": "20261204001100 counts from the (hospital_id, starts_at) index",
    "private.audit_append": "20261204002000 leaves the chain link to the commit (audit.pending);"
    " it returns nothing now, and a function's return type changes only by drop and create",
    "private.patient_search_candidates": "20261205010000 filters the name index scan by the"
    " caller's reach, one pass instead of batches",
    "private.joinable_topics": "20261205012000 adds the pharmacy topics",
    "private.live_appointment_events": "20261205012000 tells doctors only while they work there",
    "private.live_prescription_events": "20261205012000 tells the pharmacy, not the hospital's"
    " pharmacists, and doctors only while they work there",
    "private.live_lab_result_events": "20261205012000 tells doctors only while they work there",
    "private.set_updated_at": "20261205020000 leaves updated_at alone while a merge re-points"
    " or an unmerge restores rows",
    "private.guard_clinical_update": "20261205020000 lets a merge's re-pointing through",
    "private.guard_clinical_note": "20261205020000 lets a merge's re-pointing of a signed note"
    " through",
    "private.guard_lab_result": "20261205020000 lets a merge's re-pointing of a final result"
    " through",
    "private.guard_appointment_nurse_fields": "20261205020000 lets a merge's re-pointing through",
    "private.guard_prescription_pharmacy": "20261205020000 moves a prescription with the consent"
    " it was sent under",
    "private.render_notification": "20261207220000 tells the patient why a calendar_slot_taken"
    " cancellation happened and to choose another time",
    "public.claim_notifications": "20261211001000 claims messages too and re-checks contact"
    " consent when a row is claimed; each row's delivery is private.outbox_delivery's;"
    " 20261214200000 claims on in place of the rows it settles, so that a batch of them does"
    " not look like an empty queue",
    "private.lead_dashboard": "20261209190000 groups the cohort once, read from the index alone",
    "private.lead_funnel": "20261209190000 counts the stages each lead keeps (leads.stages_reached)"
    " instead of reading every move of the cohort",
    "public.cro_queue": "20261209190000 pages the queue and reads it from its index in a security"
    " definer function (its enum filter cannot run before the leads' policies)",
}

CREATE_FUNCTION = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?function\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s*\(",
    re.IGNORECASE,
)


def test_every_function_is_created_in_exactly_one_migration(stack: Settings) -> None:
    """A reader finds a function's current body in one file, not in the last of several."""
    created_in: dict[str, list[str]] = {}
    for path in sorted(stack.migrations_dir.glob("*.sql")):
        code = re.sub(r"--[^\n]*", "", path.read_text())
        for name in sorted({m.lower() for m in CREATE_FUNCTION.findall(code)}):
            created_in.setdefault(name, []).append(path.name)
    assert created_in, "the migrations create functions"
    recreated = {name: files for name, files in created_in.items() if len(files) > 1}
    unexplained = {n: files for n, files in recreated.items() if n not in RECREATED_FUNCTIONS}
    assert unexplained == {}
    stale = sorted(set(RECREATED_FUNCTIONS) - set(recreated))
    assert stale == [], "the allowlist names only functions still created twice"


# A `revoke execute ... from public` (or anon): the foundation migration's default privileges
# (the one place that says it) already leave every function to its explicit grants.
DEFAULT_PRIVILEGES = re.compile(r"\balter\s+default\s+privileges\b[^;]*;", re.IGNORECASE)
REDUNDANT_REVOKE = re.compile(
    r"\brevoke\s+execute\s+on\s+(?:function|functions|routine|routines|all\s+functions)\b"
    r"[^;]*?\bfrom\s+(?:\w+\s*,\s*)*(?:public|anon)\b(?!\.)",
    re.IGNORECASE,
)


def test_no_migration_revokes_execute_from_public(stack: Settings) -> None:
    """Privileges are stated once, in the foundation's default privileges."""
    offenders = {
        path.name: [" ".join(m.group(0).split()) for m in REDUNDANT_REVOKE.finditer(code)]
        for path in sorted(stack.migrations_dir.glob("*.sql"))
        if REDUNDANT_REVOKE.search(
            code := DEFAULT_PRIVILEGES.sub("", re.sub(r"--[^\n]*", "", path.read_text()))
        )
    }
    assert offenders == {}


# The only functions an anonymous request may execute. Derived from the grants of 2026-12-02:
# PostgREST's pre-request hook runs for every request, signed in or not; no RPC is anonymous.
ANON_EXECUTABLE = ["public.db_pre_request()"]


def test_no_project_function_is_executable_by_anon_unless_listed(db: psycopg.Connection) -> None:
    executable = names(
        db,
        "select format('%s.%s(%s)', n.nspname, p.proname,"
        " pg_get_function_identity_arguments(p.oid))"
        " from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname in ('public', 'private')"
        " and not exists (select from pg_depend d where d.objid = p.oid and d.deptype = 'e')"
        " and has_function_privilege('anon', p.oid, 'execute')"
        " order by 1",
    )
    assert executable == ANON_EXECUTABLE
