"""Writing the generated rows: COPY in one transaction, the way bulk loads are made fast.

For each public/private table it writes, inside the load's transaction (a failed load rolls it
all back; other sessions wait for these tables meanwhile), the loader
- switches the user triggers off (`alter table ... disable trigger user`): the row triggers
  (audit append, state machine, notifications, care team, MRN, guards) cost milliseconds a row
  and serialize on the audit chain head, so `large` would take hours;
- sets aside its foreign keys, exclusion constraints and plain indexes, and makes them again at
  the end: indexes built once, exclusion constraints re-added (their build is the overlap
  check), foreign keys added NOT VALID and then validated (one join each). Primary keys, unique
  and check constraints stay in force throughout. tests/test_seed_generator.py checks that the
  catalog is the same afterwards.
What the triggers would have done is done here instead:
- derived columns (doctor_user_id, MRNs, video rooms, dispensed quantities) and the status
  history of prescriptions are written by the generator; care-team members, the status history
  of appointments, the notifications and the duplicate review queue by set-based SQL afterwards
  (each domain's DERIVED); the MRN counters are moved past the MRNs used; auth.users keeps its
  trigger (profiles);
- encrypted columns hold ciphertexts made by private.encrypt_field (seed.encryption);
- the audit trail gets one entry per table loaded (through private.audit_append, so the chain
  stays valid), saying what was bulk-loaded, instead of one entry per row;
- seed.check then verifies what the guards would have refused (see README, "Synthetic data").
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from seed import (
    appointments,
    billing,
    clinical,
    communications,
    connection,
    consent,
    hospitals,
    journeys,
    leads,
    notifications,
    patients,
    prescriptions,
    schedules,
    tickets,
)
from seed.encryption import Encryptor
from seed.sizes import Size
from seed.world import Table, World

BUILDERS: list[Callable[[World], list[Table]]] = [
    hospitals.build,
    patients.build,
    schedules.build,
    consent.build,
    appointments.build,
    clinical.build,
    prescriptions.build,
    leads.build,
    billing.build,
    journeys.build,
    tickets.build,
    communications.build,
]
DERIVED = [
    *patients.DERIVED,
    *appointments.DERIVED,
    *clinical.DERIVED,
    *notifications.DERIVED,
    *leads.DERIVED,
    # private.hospital_event_email_templates: every hospital has the event email templates.
    """
    insert into public.message_templates
        (hospital_id, code, name, channel, category, subject, body, variables)
    select h.id, t.code, t.name, 'email', t.category, t.subject, t.body, t.variables
    from public.hospitals as h
    cross join private.default_event_email_templates() as t
    where h.id = any(%(hospitals)s)
    on conflict do nothing
    """,
    *communications.DERIVED,
]
MRN_COUNTERS = """
    insert into private.mrn_counters as c (hospital_id, year, last_value)
    select hospital_id, split_part(mrn, '-', 2)::integer, max(split_part(mrn, '-', 3)::integer)
    from public.patient_registrations
    where hospital_id = any(%(hospitals)s)
    group by 1, 2
    on conflict on constraint mrn_counters_pkey
        do update set last_value = greatest(c.last_value, excluded.last_value)
"""
CHUNK = 1 << 20


@dataclass
class Summary:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, table: str, rows: int, seconds: float) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.seconds[table] = self.seconds.get(table, 0.0) + seconds


def _escape(value: object) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _progress(label: str, rows: int, started: float, done: bool = False) -> None:
    line = f"\r  {label:<40} {rows:>11,} rows {time.monotonic() - started:7.1f} s"
    print(line, end="\n" if done else "", file=sys.stderr if not done else sys.stdout, flush=True)


def _copy(
    cur: psycopg.Cursor, target: str, columns: list[str], rows: Iterable[tuple], label: str
) -> int:
    started = time.monotonic()
    count = 0
    statement = sql.SQL("copy {} ({}) from stdin").format(
        sql.SQL(target), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with cur.copy(statement) as copy:
        buffer: list[str] = []
        size = 0
        for row in rows:
            line = "\t".join(map(_escape, row))
            buffer.append(line)
            size += len(line)
            count += 1
            if size >= CHUNK:
                copy.write("\n".join(buffer) + "\n")
                buffer, size = [], 0
                if sys.stderr.isatty():
                    _progress(label, count, started)
        if buffer:
            copy.write("\n".join(buffer) + "\n")
    return count


def load_table(cur: psycopg.Cursor, table: Table, summary: Summary, sealed: dict) -> None:
    started = time.monotonic()
    rows = table.rows
    if table.encrypted:
        positions = [table.columns.index(c) for c in table.encrypted]
        columns = [
            [value for batch in sealed[(table.name, c)] for value in batch.result()]
            for c in table.encrypted
        ]
        rows = (
            tuple(
                columns[positions.index(i)][n] if i in positions else value
                for i, value in enumerate(row)
            )
            for n, row in enumerate(table.rows)
        )
    count = _copy(cur, table.name, table.columns, rows, table.name)
    summary.add(table.name, count, time.monotonic() - started)
    _progress(table.name, count, started, done=True)


# Foreign keys, exclusion constraints and plain indexes of a table about to be bulk-loaded:
# dropped for the load and made again at its end (an index built once is much faster than one
# maintained row by row; a foreign key validated once is one join instead of a lookup a row).
SET_ASIDE = """
    select 'constraint', c.conname, pg_get_constraintdef(c.oid), c.contype::text,
        obj_description(c.oid, 'pg_constraint')
    from pg_constraint as c
    where c.conrelid = %(table)s::regclass and c.contype in ('f', 'x')
    union all
    select 'index', i.relname, pg_get_indexdef(i.oid), '', obj_description(i.oid, 'pg_class')
    from pg_index as x
    join pg_class as i on i.oid = x.indexrelid
    where x.indrelid = %(table)s::regclass and not x.indisunique and not x.indisprimary
        and not exists (select from pg_constraint as c where c.conindid = x.indexrelid)
"""


@dataclass
class SetAside:
    table: str
    kind: str
    name: str
    definition: str
    contype: str
    comment: str | None


def set_aside(cur: psycopg.Cursor, table: str) -> list[SetAside]:
    items = [SetAside(table, *row) for row in cur.execute(SET_ASIDE, {"table": table}).fetchall()]
    for item in items:
        if item.kind == "index":
            cur.execute(
                sql.SQL("drop index {}.{}").format(
                    sql.Identifier(table.split(".")[0]), sql.Identifier(item.name)
                )
            )
        else:
            cur.execute(
                sql.SQL("alter table {} drop constraint {}").format(
                    sql.SQL(table), sql.Identifier(item.name)
                )
            )
    return items


def restore(cur: psycopg.Cursor, items: list[SetAside]) -> None:
    """Indexes, then exclusion constraints (their check is the overlap check), then foreign
    keys: added NOT VALID and validated, one join each."""
    order = {"index": 0, "x": 1, "f": 2}
    for item in sorted(items, key=lambda i: order[i.kind if i.kind == "index" else i.contype]):
        started = time.monotonic()
        name = sql.Identifier(item.name)
        if item.kind == "index":
            cur.execute(item.definition)
            target = sql.SQL("index {}.{}").format(sql.Identifier(item.table.split(".")[0]), name)
        elif item.contype == "x":
            cur.execute(
                sql.SQL(
                    "alter table {} add constraint {} "
                    + item.definition.replace("{", "{{").replace("}", "}}")
                ).format(sql.SQL(item.table), name)
            )
            target = sql.SQL("constraint {} on {}").format(name, sql.SQL(item.table))
        else:
            definition = item.definition.replace("{", "{{").replace("}", "}}")
            cur.execute(
                sql.SQL("alter table {} add constraint {} " + definition + " not valid").format(
                    sql.SQL(item.table), name
                )
            )
            cur.execute(
                sql.SQL("alter table {} validate constraint {}").format(sql.SQL(item.table), name)
            )
            target = sql.SQL("constraint {} on {}").format(name, sql.SQL(item.table))
        if item.comment is not None:
            cur.execute(sql.SQL("comment on {} is {}").format(target, sql.Literal(item.comment)))
        if (elapsed := time.monotonic() - started) > 2:
            print(f"    {item.table} {item.name}: {elapsed:.1f} s")


def hospital_codes(size: Size) -> list[str]:
    """The codes of the hospitals a size makes (PTA, LDH, ...): a load is known by them."""
    return [code for code, *_ in hospitals.HOSPITALS[: size.hospitals]]


def loaded_codes(cur: psycopg.Cursor, size: Size) -> list[str]:
    """Which of the size's hospitals the database holds already."""
    cur.execute("select code from public.hospitals where code = any(%s)", (hospital_codes(size),))
    return [code for (code,) in cur.fetchall()]


def generate(database_url: str, world: World) -> Summary:
    summary = Summary()
    encryptor = Encryptor(database_url)
    try:
        with connection.connect(database_url) as conn, conn.cursor() as cur:
            # Two loads at once (two `carebase up`): the second waits, then finds the hospitals.
            cur.execute("select pg_advisory_xact_lock(hashtext('carebase seed generate'))")
            if taken := loaded_codes(cur, world.size):
                raise SystemExit(
                    f"error: hospitals {', '.join(taken)} already exist in this database: the "
                    "data was generated before (`CAREBASE_DEMO_DATA=none carebase db reset` "
                    "gives a database without them)"
                )
            _load(cur, world, summary, encryptor)
    finally:
        encryptor.close()
    started = time.monotonic()
    with connection.connect(database_url, autocommit=True) as conn:
        conn.execute("analyze")
    summary.add("(analyze)", 0, time.monotonic() - started)
    return summary


def _derive(cur: psycopg.Cursor, statements: list[str], params: dict, summary: Summary) -> None:
    for statement in statements:
        started = time.monotonic()
        cur.execute(statement, params)
        target = statement.split("insert into", 1)[1].split()[0]
        summary.add(target, max(cur.rowcount, 0), time.monotonic() - started)
        _progress(f"{target} (derived)", max(cur.rowcount, 0), started, done=True)


def _load(cur: psycopg.Cursor, world: World, summary: Summary, encryptor: Encryptor) -> None:
    cur.execute("set local statement_timeout = 0")
    cur.execute("set local maintenance_work_mem = '256MB'")
    switched_off: list[str] = []
    aside: list[SetAside] = []

    def prepare(table: str) -> None:
        if table.startswith(("public.", "private.")) and table not in switched_off:
            cur.execute(sql.SQL("alter table {} disable trigger user").format(sql.SQL(table)))
            switched_off.append(table)
            aside.extend(set_aside(cur, table))

    for table in (
        "public.care_team_members",
        "public.status_history",
        "private.outbox",
        "public.patient_duplicate_pairs",
    ):
        prepare(table)
    # Tables with encrypted columns (and those after them in their domain) wait for their
    # ciphertexts until the rest is loaded.
    deferred: list[Table] = []
    sealed: dict[tuple[str, str], list] = {}
    for build in BUILDERS:
        waiting = False
        for table in build(world):
            prepare(table.name)
            if table.encrypted:
                rows = table.rows if isinstance(table.rows, list) else list(table.rows)
                table.rows = rows
                for column in table.encrypted:
                    i = table.columns.index(column)
                    sealed[(table.name, column)] = encryptor.submit([row[i] for row in rows])
                waiting = True
            if waiting:
                deferred.append(table)
            else:
                load_table(cur, table, summary, sealed)
    params = {"hospitals": [h.id for h in world.hospitals], "now": world.now_timestamp}
    # Statistics of what was just copied, so the derived statements are not planned blind
    # (the duplicate pairs' scoring ran on every pair of patients without them: 190 s for 400).
    started = time.monotonic()
    cur.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(map(sql.SQL, switched_off))))
    summary.add("(analyze before deriving)", 0, time.monotonic() - started)
    _derive(cur, DERIVED, params, summary)
    for table in deferred:
        load_table(cur, table, summary, sealed)
    after = [
        *notifications.DERIVED_AFTER_PRESCRIPTIONS,
        MRN_COUNTERS,
        billing.COUNTERS,
        *billing.REVENUE_SUMMARY,
    ]
    _derive(cur, after, params, summary)
    started = time.monotonic()
    restore(cur, aside)
    summary.add("(indexes and constraints)", 0, time.monotonic() - started)
    _progress("indexes made, constraints validated", 0, started, done=True)
    # The audit trail says what was loaded, one entry a table, appended to the chain.
    details = {
        "source": "carebase seed generate",
        "size": world.size.name,
        "seed": world.seed,
        "row_triggers": "off for the bulk load",
    }
    for table, rows in summary.rows.items():
        if table.startswith("("):
            continue
        cur.execute(
            "select private.audit_append('INSERT', %s, null, null, null, '{}', null, null, %s)",
            (table, json.dumps({**details, "rows": rows})),
        )
    # Diagnoses take the current ICD-10-CM version when the code tables hold one (the trigger
    # that would have set it is off); a code it lacks is reported, as for any older diagnosis.
    cur.execute("select private.check_diagnosis_codes('ICD-10-CM')")
    for table in switched_off:
        cur.execute(sql.SQL("alter table {} enable trigger user").format(sql.SQL(table)))
