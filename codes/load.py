"""Writing a code set into the database in one transaction, then checking the diagnoses
recorded before against it (private.check_diagnosis_codes)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from codes.code_set import CodeSet

# A second loader (two `carebase up` at once) waits for the first, then finds the version.
LOCK = "select pg_advisory_xact_lock(hashtext('carebase codes load'))"


@dataclass
class Outcome:
    system: str
    version: str
    codes: int
    loaded: bool  # False: the version was there already
    current: bool
    findings: int
    seconds: float

    def line(self) -> str:
        done = f"loaded {self.codes:,} codes" if self.loaded else "already loaded"
        current = ", current" if self.current else ""
        findings = (
            f"; {self.findings} diagnoses carry a code it does not hold (diagnosis_code_findings)"
            if self.findings
            else ""
        )
        return f"{self.system} {self.version}: {done}{current} in {self.seconds:.1f} s{findings}"


def is_loaded(conn: psycopg.Connection, system: str, version: str) -> bool:
    return (
        conn.execute(
            "select from public.code_systems where system = %s and version = %s", (system, version)
        ).fetchone()
        is not None
    )


def load(
    database_url: str, code_set: CodeSet, make_current: bool = True, replace: bool = False
) -> Outcome:
    started = time.monotonic()
    loaded = False
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            conn.execute("set local statement_timeout = 0")
            conn.execute(LOCK)
            there = is_loaded(conn, code_set.system, code_set.version)
            if replace or not there:
                _write(conn, code_set)
                loaded = True
            if make_current:
                conn.execute(
                    "update public.code_systems set is_current = false"
                    " where system = %s and version <> %s and is_current",
                    (code_set.system, code_set.version),
                )
                conn.execute(
                    "update public.code_systems set is_current = true"
                    " where system = %s and version = %s",
                    (code_set.system, code_set.version),
                )
            current = conn.execute(
                "select is_current from public.code_systems where system = %s and version = %s",
                (code_set.system, code_set.version),
            ).fetchone()[0]
        findings = check(conn, code_set.system)
    return Outcome(
        code_set.system,
        code_set.version,
        len(code_set.codes),
        loaded,
        current,
        findings,
        time.monotonic() - started,
    )


def check(conn: psycopg.Connection, system: str) -> int:
    """Versions the diagnoses of `system` recorded before codes were checked; returns the number
    whose code its current version does not hold (reported, never changed)."""
    with conn.transaction():
        return conn.execute("select private.check_diagnosis_codes(%s)", (system,)).fetchone()[0]


def _write(conn: psycopg.Connection, code_set: CodeSet) -> None:
    conn.execute(
        "delete from public.code_systems where system = %s and version = %s",
        (code_set.system, code_set.version),
    )
    conn.execute(
        "insert into public.code_systems (system, version, title, source, attribution, code_count)"
        " values (%s, %s, %s, %s, %s, %s)",
        (
            code_set.system,
            code_set.version,
            code_set.title,
            code_set.source,
            code_set.attribution,
            len(code_set.codes),
        ),
    )
    # GIN entries gathered in the pending list and merged once at the end: a third of the time
    # of merging them row by row, and faster than dropping and building the indexes.
    conn.execute("set local gin_pending_list_limit = '1GB'")
    with conn.cursor() as cur:
        with cur.copy(
            "copy public.diagnosis_code_groups (system, version, kind, code, title, chapter,"
            " sort_key) from stdin"
        ) as copy:
            for g in code_set.groups:
                copy.write_row(
                    (
                        code_set.system,
                        code_set.version,
                        g.kind,
                        g.code,
                        g.title,
                        g.chapter,
                        g.sort_key,
                    )
                )
        cur.execute(
            "create temporary table codes_in (code text, description text, parent_code text,"
            " chapter text, block text, billable boolean, extended boolean, terms text[],"
            " synonyms text[], sort_key integer) on commit drop"
        )
        with cur.copy(
            "copy codes_in (code, description, parent_code, chapter, block, billable, extended,"
            " terms, synonyms, sort_key) from stdin"
        ) as copy:
            for c in code_set.codes:
                copy.write_row(
                    (
                        c.code,
                        c.description,
                        c.parent_code,
                        c.chapter,
                        c.block,
                        c.billable,
                        c.extended,
                        c.terms,
                        c.synonyms,
                        c.sort_key,
                    )
                )
        cur.execute(
            "insert into public.diagnosis_codes (system, version, code, description, parent_code,"
            " chapter, block, billable, extended, terms, synonyms, search_vector, sort_key)"
            " select %s, %s, code, description, parent_code, chapter, block, billable, extended,"
            " terms, synonyms, case when extended then ''::tsvector"
            " else private.diagnosis_code_search_vector(description, terms, synonyms) end,"
            " sort_key from codes_in",
            (code_set.system, code_set.version),
        )
        cur.execute(
            "select private.collect_diagnosis_code_words(%s, %s)",
            (code_set.system, code_set.version),
        )
        for index in ("diagnosis_codes_search_idx", "diagnosis_code_words_trigram_idx"):
            cur.execute("select gin_clean_pending_list(%s::regclass)", (f"public.{index}",))
        cur.execute("analyze public.diagnosis_codes, public.diagnosis_code_words")
