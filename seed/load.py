"""Writing the generated rows: COPY in one transaction, with the row triggers switched off.

Why switched off: the row triggers (audit append, state machine, notifications, care team, MRN,
guards) cost milliseconds a row and serialize on the audit chain head; `large` would take hours.
`alter table ... disable trigger user` on each table written, inside the load's transaction and
enabled again before it commits (a failed load rolls both back; other sessions wait for the
tables meanwhile). Foreign keys stay enforced (their triggers are not user triggers), and so do
check, unique and exclusion constraints. What the user triggers would have done is done here:
- derived rows (doctor_user_id, MRNs, video rooms, dispensed quantities, status history of
  prescriptions) are written by the generator; care-team members, the status history of
  appointments and the notifications by set-based SQL afterwards (each domain's DERIVED); the
  MRN counters are moved past the MRNs used; auth.users keeps its trigger (profiles);
- encrypted columns go through private.encrypt_field, as the RPCs do;
- the audit trail gets one entry per table loaded (through private.audit_append, so the chain
  stays valid), saying what was bulk-loaded, instead of one entry per row;
- the rules the guards enforce and the rest are checked after the load by seed.check.
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
    clinical,
    consent,
    hospitals,
    notifications,
    patients,
    prescriptions,
    schedules,
)
from seed.world import Table, World

BUILDERS: list[Callable[[World], list[Table]]] = [
    hospitals.build,
    patients.build,
    schedules.build,
    consent.build,
    appointments.build,
    clinical.build,
    prescriptions.build,
]
DERIVED = [*appointments.DERIVED, *clinical.DERIVED, *notifications.DERIVED]
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


def load_table(cur: psycopg.Cursor, table: Table, summary: Summary) -> None:
    started = time.monotonic()
    if not table.encrypted:
        count = _copy(cur, table.name, table.columns, table.rows, table.name)
    else:
        # Clear text into a temporary table, then into the table through encrypt_field.
        stage = sql.Identifier("seed_stage")
        cur.execute(sql.SQL("drop table if exists {}").format(stage))
        cur.execute(
            sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
                stage, sql.SQL(", ").join(map(sql.Identifier, table.columns)), sql.SQL(table.name)
            )
        )
        for column in table.encrypted:
            cur.execute(
                sql.SQL("alter table {} alter column {} type text using null").format(
                    stage, sql.Identifier(column)
                )
            )
        count = _copy(cur, "seed_stage", table.columns, table.rows, table.name)
        values = [
            sql.SQL("private.encrypt_field({})").format(sql.Identifier(c))
            if c in table.encrypted
            else sql.Identifier(c)
            for c in table.columns
        ]
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(
                sql.SQL(table.name),
                sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                sql.SQL(", ").join(values),
                stage,
            )
        )
        cur.execute(sql.SQL("drop table {}").format(stage))
    elapsed = time.monotonic() - started
    summary.add(table.name, count, elapsed)
    _progress(table.name, count, started, done=True)


def generate(database_url: str, world: World) -> Summary:
    summary = Summary()
    codes = [code for code, *_ in hospitals.HOSPITALS[: world.size.hospitals]]
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select code from public.hospitals where code = any(%s)", (codes,))
        if taken := [code for (code,) in cur.fetchall()]:
            raise SystemExit(
                f"error: hospitals {', '.join(taken)} already exist in this database: the data "
                "was generated before (`carebase db reset` gives an empty one)"
            )
        cur.execute("set local statement_timeout = 0")
        switched_off: list[str] = []

        def triggers_off(table: str) -> None:
            if table.startswith(("public.", "private.")) and table not in switched_off:
                cur.execute(sql.SQL("alter table {} disable trigger user").format(sql.SQL(table)))
                switched_off.append(table)

        for table in ("public.care_team_members", "public.status_history", "private.outbox"):
            triggers_off(table)
        for build in BUILDERS:
            for table in build(world):
                triggers_off(table.name)
                load_table(cur, table, summary)
        params = {"hospitals": [h.id for h in world.hospitals], "now": world.now_timestamp}
        for statement in [*DERIVED, MRN_COUNTERS]:
            started = time.monotonic()
            cur.execute(statement, params)
            target = statement.split("insert into", 1)[1].split()[0]
            summary.add(target, max(cur.rowcount, 0), time.monotonic() - started)
            _progress(f"{target} (derived)", max(cur.rowcount, 0), started, done=True)
        # encrypt_field records each ciphertext until a row stores it; the trigger that would
        # have consumed the records was off.
        cur.execute("delete from private.fresh_ciphertexts where xact = pg_current_xact_id()")
        # The audit trail says what was loaded, one entry a table, appended to the chain.
        details = {
            "source": "carebase seed generate",
            "size": world.size.name,
            "seed": world.seed,
            "row_triggers": "bypassed (bulk load)",
        }
        for table, rows in summary.rows.items():
            cur.execute(
                "select private.audit_append('INSERT', %s, null, null, null, '{}', null, null, %s)",
                (table, json.dumps({**details, "rows": rows})),
            )
        for table in switched_off:
            cur.execute(sql.SQL("alter table {} enable trigger user").format(sql.SQL(table)))
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("analyze")
    summary.add("(analyze)", 0, time.monotonic() - started)
    return summary
