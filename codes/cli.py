"""`carebase codes load | status`: load a code system version, list what is loaded."""

from __future__ import annotations

import argparse
from pathlib import Path

import psycopg

from codes import code_set, icd10cm, load


def ensure_loaded(database_url: str) -> str:
    """What `carebase up` and `carebase db reset` do: load the packaged ICD-10-CM release when
    the database lacks it (and make it current), then check the diagnoses recorded before."""
    version, _ = icd10cm.packaged_release()
    with psycopg.connect(database_url) as conn:
        if load.is_loaded(conn, icd10cm.SYSTEM, version):
            findings = load.check(conn, icd10cm.SYSTEM)
            return f"{icd10cm.SYSTEM} {version}: loaded" + (
                f"; {findings} diagnoses carry a code it does not hold" if findings else ""
            )
    codes, warnings = icd10cm.read_with_synonyms()
    code_set.warn(warnings)
    return load.load(database_url, codes).line()


def status(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "select s.system, s.version, s.is_current, s.code_count, s.loaded_at, s.title,"
            " (select count(*) from public.diagnosis_code_findings as f"
            " where f.code_system = s.system and s.is_current)"
            " from public.code_systems as s order by s.system, s.version"
        ).fetchall()
    if not rows:
        print("no code system is loaded (carebase codes load)")
    for system, version, current, count, loaded_at, title, findings in rows:
        print(
            f"{system} {version}{' (current)' if current else ''}: {count:,} codes, {title},"
            f" loaded {loaded_at:%Y-%m-%d %H:%M}"
            + (f"; {findings} diagnoses carry a code it does not hold" if findings else "")
        )
    return 0


def main(argv: list[str], default_database_url: str) -> int:
    parser = argparse.ArgumentParser(prog="carebase codes", description=__doc__)
    parser.add_argument("--database-url", default=default_database_url)
    actions = parser.add_subparsers(dest="action", required=True)
    loading = actions.add_parser(
        "load",
        help="load ICD-10-CM from simple-icd-10-cm (default) or another system from a CSV file",
    )
    loading.add_argument(
        "--file",
        type=Path,
        help="CSV: kind,code,description,parent[,billable][,terms] (see codes/code_set.py)",
    )
    loading.add_argument("--system", help="with --file: the system's name, e.g. ICD-10")
    loading.add_argument("--version", help="with --file: the version, e.g. 2019")
    loading.add_argument("--title", help="with --file: a title, e.g. 'ICD-10, 2019 edition'")
    loading.add_argument("--source", default="", help="with --file: where the data comes from")
    loading.add_argument(
        "--attribution", help="with --file: the notice the licence asks to show with the codes"
    )
    loading.add_argument("--synonyms", type=Path, help="a code<TAB>synonym file to add")
    loading.add_argument(
        "--not-current", action="store_true", help="load it without making it the current version"
    )
    loading.add_argument(
        "--replace", action="store_true", help="write the version again when it is loaded"
    )
    actions.add_parser("status", help="the loaded code systems and versions")
    args = parser.parse_args(argv)
    if args.action == "status":
        return status(args.database_url)
    if args.file:
        missing = [
            option
            for option in ("system", "version", "title", "attribution")
            if not getattr(args, option)
        ]
        if missing:
            parser.error(f"--file needs --{', --'.join(missing)}")
        codes = code_set.read_file(
            args.file, args.system, args.version, args.title, args.source, args.attribution
        )
        warnings: list[str] = []
    else:
        codes, warnings = icd10cm.read_with_synonyms()
    if args.synonyms:
        warnings += codes.add_synonyms(args.synonyms)
    code_set.warn(warnings)
    print(load.load(args.database_url, codes, not args.not_current, args.replace).line())
    return 0
