"""`carebase`: the command line of the local stack."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from devstack import postgres, schema_snapshot, services
from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.gateway import process as gateway
from devstack.migrate import apply_migrations, apply_platform, apply_seed
from devstack.storage.config import StorageConfig
from devstack.storage.object_store import forget_all


def migrate(settings: Settings) -> None:
    shim = apply_platform(
        settings.dsn(settings.admin_user), settings.platform_dir, settings.db_password
    )
    if shim:
        print(f"platform shim: applied {len(shim)} file(s)")
    applied = apply_migrations(settings.dsn(), settings.migrations_dir)
    for name in applied:
        print(f"migration applied: {name}")
    print(f"migrations: {len(applied)} applied, database is up to date")


def seed(settings: Settings) -> None:
    if apply_seed(settings.dsn(), settings.seed_file):
        print(f"seed: applied {settings.seed_file.relative_to(settings.repo_root)}")


def codes(settings: Settings) -> None:
    """ICD-10-CM in the diagnosis code tables (codes/), loaded once: a database that holds the
    packaged release keeps it; the diagnoses recorded before are checked against it."""
    from codes import cli as codes_cli

    print(f"diagnosis codes: {codes_cli.ensure_loaded(settings.dsn())}")


def demo(settings: Settings) -> None:
    """The synthetic hospitals of `carebase seed generate --size demo` (CAREBASE_DEMO_DATA),
    loaded once: a database that holds them already is left as it is (README, "Demo data")."""
    from seed import cli as seed_cli
    from seed.sizes import SIZES

    if settings.demo_data == "none":
        return
    if settings.demo_data not in SIZES:
        raise DevstackError(
            f"CAREBASE_DEMO_DATA={settings.demo_data} is not a size",
            f"set it to one of {', '.join(SIZES)} or none (default: demo)",
        )
    # The day in India, where the generated hospitals are.
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    if summary := seed_cli.load_unless_present(settings.dsn(), settings.demo_data, today):
        print(f"demo data: loaded {summary}")


def start(settings: Settings) -> bool:
    cluster, created = postgres.start(settings)
    print(
        f"database: running on {settings.db_host}:{settings.db_port} (data in {cluster.data_dir})"
    )
    return created


def reset(settings: Settings) -> None:
    if kept := services.set_aside_anchors(settings):
        print(f"audit anchors of the previous database kept in {kept}")
    postgres.destroy(settings)
    forget_all(StorageConfig.from_settings(settings).root)  # no row names those bytes any more
    start(settings)
    migrate(settings)
    seed(settings)
    codes(settings)
    demo(settings)
    # A running worker anchors the new chain now rather than at its next round.
    worker = services.worker(settings)
    if worker.stop():
        worker.start()
        print(f"{worker.name}: restarted (the new audit chain is anchored)")


def up(settings: Settings) -> None:
    """Start and migrate the database (seeding one just created, adding the demo data when it
    is missing), then the gateway and the background services."""
    created = start(settings)
    migrate(settings)
    if created:
        seed(settings)
    codes(settings)
    demo(settings)
    gateway.start(settings)
    for service in services.background_services(settings):
        service.start()
    print(
        f"\ncarebase is up.\n"
        f"  API       {settings.api_url}  (/rest/v1, /auth/v1, /realtime/v1, /storage/v1;"
        " apikey: the anon key below)\n"
        f"  sidecar   {settings.sidecar_url}/api/v1  (OpenAPI: /api/v1/openapi.json)\n"
        f"  anon key  {settings.anon_key}\n"
        f"  database  {settings.url()}\n"
        f"  anchors   {services.anchor_dir(settings)}  (carebase audit verify)\n"
        f'  tour      README.md, "Five-minute tour" (logins: "Demo logins")\n'
        f"  logs      {settings.local_dir}/*.log\n"
        f"  psql      carebase db psql\n  stop      make down"
    )


def down(settings: Settings) -> None:
    for service in reversed(services.background_services(settings)):
        if service.stop():
            print(f"{service.name}: stopped")
    if gateway.stop(settings):
        print("gateway: stopped")
    stop(settings)


def serve_gateway(settings: Settings) -> None:
    """Run the gateway in the foreground (what `up` runs in the background)."""
    from devstack.gateway import serve

    serve.main(["--workers", str(gateway.WORKERS)])


def run_worker(settings: Settings) -> None:
    """The sidecar's worker (notifications, audit anchors) in the foreground (what `up` runs
    in the background)."""
    from sidecar.jobs import worker

    local = {**services.sidecar_environment(settings), **services.anchor_environment(settings)}
    os.environ.update({**local, **os.environ})
    worker.main()


def audit(settings: Settings, action: str, extra: list[str]) -> int:
    """`carebase audit verify | public-key` against this stack and its anchor store."""
    local = {**services.sidecar_environment(settings), **services.anchor_environment(settings)}
    os.environ.update({**local, **os.environ})
    from sidecar.jobs import anchor_signing, anchor_verification

    if action == "public-key":
        key = anchor_signing.load_signing_key(os.environ["CAREBASE_AUDIT_ANCHOR_SIGNING_KEY"])
        public = key.public_key()
        print(f"{anchor_signing.public_key_text(public)}  (key id {anchor_signing.key_id(public)})")
        return 0
    return anchor_verification.main(extra)


def _moment(text: str) -> datetime:
    """An ISO 8601 time or date for --from/--to (UTC when it names no zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reconcile_calendar(settings: Settings, start: datetime | None, end: datetime | None) -> int:
    """`carebase reconcile cal`: one reconciliation run of the Cal.com mirror, now, against this
    stack (CALCOM_API_KEY and CAREBASE_CALCOM_BASE_URL name the Cal.com account); prints the
    run's counts. Default window: the nightly one's start to the periodic one's end."""
    import asyncio

    import httpx

    from sidecar.integrations.calcom import CalcomClient
    from sidecar.integrations.supabase_api import SupabaseApi
    from sidecar.jobs.calendar_reconcile import COUNTS, CalendarReconciler
    from sidecar.settings import SidecarSettings

    os.environ.update({**services.sidecar_environment(settings), **os.environ})
    sidecar_settings = SidecarSettings()
    if not sidecar_settings.calcom_api_key:
        raise DevstackError(
            "CALCOM_API_KEY is not set", "export the Cal.com API key (and CAREBASE_CALCOM_BASE_URL)"
        )
    now = datetime.now(UTC)
    start = start or now - timedelta(days=sidecar_settings.calcom_reconcile_behind_days)
    end = end or now + timedelta(days=sidecar_settings.calcom_reconcile_ahead_days)
    if start >= end:
        raise DevstackError("--from must be before --to")

    async def once() -> dict:
        async with httpx.AsyncClient(timeout=sidecar_settings.delivery_timeout) as http:
            calcom = CalcomClient(
                sidecar_settings.calcom_base_url, sidecar_settings.calcom_api_key, http
            )
            reconciler = CalendarReconciler(
                sidecar_settings, SupabaseApi(sidecar_settings, http), calcom
            )
            return await reconciler.reconcile("manual", start, end)

    run = asyncio.run(once())
    print(f"reconciliation {run['id']}: {run['window_from']} .. {run['window_to']}")
    print("  " + "  ".join(f"{name} {run[name]}" for name in COUNTS))
    if run.get("error"):
        print(f"  error: {run['error']}", file=sys.stderr)
        return 1
    return 0


def eval_copilot(settings: Settings) -> int:
    """`carebase eval copilot`: tests/copilot_eval/cases.yaml against the real model (it
    chooses the tool calls), through an in-process sidecar on the running stack; a case passes
    when the tools called and their outcomes match; prints a score per role."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        print(
            "error: ANTHROPIC_API_KEY is not set: the evaluation runs against the real model\n"
            "  fix: export ANTHROPIC_API_KEY=... (the tests run the set against a local fake)",
            file=sys.stderr,
        )
        return 2
    import httpx

    from devstack import copilot_eval
    from devstack.gateway.tokens import issue
    from devstack.local_server import LocalServer
    from devstack.postgrest_session import PostgrestSession
    from sidecar.app import create_app
    from sidecar.copilot.tools import tools_for
    from sidecar.settings import SidecarSettings

    data = copilot_eval.load()
    values = copilot_eval.placeholders(settings.dsn())
    app = create_app(SidecarSettings(supabase_url=settings.api_url))
    scores: dict[str, list[int]] = {}
    with LocalServer(app, lifespan="on") as server:
        for case in data["cases"]:
            user = data["users"][case["as"]]
            with copilot_eval.prepared(
                case, settings.dsn(), settings.dsn(settings.admin_user)
            ) as made:
                resolved = copilot_eval.resolve(case, values | made)
                with psycopg.connect(settings.dsn()) as conn:
                    claims = PostgrestSession(conn).claims_for(user["login"])
                body = {"message": resolved["message"]}
                if hospital := copilot_eval.hospital_of(settings.dsn(), user.get("hospital")):
                    body["hospital_id"] = hospital
                answer = httpx.post(
                    f"{server.url}/api/v1/sessions/copilot",
                    json=body,
                    headers={"Authorization": f"Bearer {issue(claims, settings.jwt_secret)}"},
                    timeout=120,
                )
                problems = [f"HTTP {answer.status_code}"] if answer.status_code != 200 else []
                if not problems:
                    offered = [tool.name for tool in tools_for(user["role"])]
                    problems = copilot_eval.score_answer(resolved, offered, answer.json())
            scores.setdefault(user["role"], []).append(0 if problems else 1)
            print(f"{'pass' if not problems else 'FAIL'}  {case['id']}  {'; '.join(problems)}")
    total = sum(sum(v) for v in scores.values())
    for role, marks in sorted(scores.items()):
        print(f"{role:15} {sum(marks)}/{len(marks)}")
    print(f"{'all':15} {total}/{sum(len(v) for v in scores.values())}")
    return 0


def status(settings: Settings) -> int:
    cluster = postgres.locate(settings)
    if postgres.is_running(cluster):
        print(f"database: running  {settings.url()}")
        print(f"  data {cluster.data_dir}\n  log  {cluster.log_file}")
        return 0
    state = "stopped" if cluster.initialized else "not created yet"
    print(f"database: {state} (start it with `carebase db start` or `make up`)")
    return 3


def psql(settings: Settings, extra: list[str]) -> None:
    if not shutil.which("psql"):
        raise DevstackError("psql is not installed", "sudo apt-get install -y postgresql-client-15")
    os.execvp("psql", ["psql", settings.url(), *extra])  # noqa: S606


def write_schema(settings: Settings) -> None:
    path = schema_snapshot.snapshot_file(settings)
    path.write_text(schema_snapshot.build(settings))
    print(f"schema: wrote {path.relative_to(settings.repo_root)}")


def lint_database(settings: Settings) -> int:
    """`carebase db lint`: the linter's findings on this database; 1 when any is ERROR or WARN."""
    from devstack import lint

    with psycopg.connect(settings.dsn()) as conn:
        findings = lint.run(conn)
    print(lint.report(findings))
    failed = any(f.level in lint.FAILING for f in findings)
    if lint.splinter_binary(settings).exists():
        splinter = lint.run_splinter(settings)
        print(f"{splinter.stdout}{splinter.stderr}".strip())
        print(f"splinter (postgres-language-server dblint): exit status {splinter.returncode}")
        failed = failed or splinter.returncode != 0
    else:
        print("splinter (postgres-language-server dblint): not installed (make install)")
    return 1 if failed else 0


def backup_database(settings: Settings, folder: Path | None) -> int:
    """`carebase db backup [--to DIR]`."""
    from devstack import backup

    folder = folder or backup.default_folder(settings)
    manifest = backup.backup(settings, folder)
    head = manifest.chain_head or {}
    print(
        f"backup: {settings.db_name} on {settings.db_host}:{settings.db_port} -> {folder}\n"
        f"  {len(manifest.counts)} tables, {sum(manifest.counts.values()):,} rows,"
        f" audit chain head {head.get('seq', '-')}\n"
        f"  restore: carebase db restore {folder}  (into a fresh cluster: set CAREBASE_DB_DIR"
        " and CAREBASE_DB_PORT)"
    )
    return 0


def restore_database(settings: Settings, folder: Path, replace: bool) -> int:
    """`carebase db restore DIR [--replace]`: 0 when the restored database matches the backup."""
    from devstack import backup

    report = backup.restore(settings, folder, replace=replace)
    worker = services.worker(settings)
    if replace and worker.stop():
        worker.start()  # it anchors the restored chain, not the one it knew
        print(f"{worker.name}: restarted")
    print(
        f"restore: {folder} -> {report.database} in {report.seconds:.1f} s\n"
        f"  {report.tables} tables, {report.rows:,} rows; {report.anchors}"
    )
    for line in report.count_mismatches:
        print(f"  row count differs: {line}", file=sys.stderr)
    if report.head_mismatch:
        print(f"  {report.head_mismatch}", file=sys.stderr)
    if report.chain is not None:
        valid, checked, first_bad, problem = report.chain
        print(
            f"  verify_audit_chain: {'valid' if valid else 'BROKEN'}, {checked:,} rows checked"
            + ("" if valid else f"; first bad row {first_bad}: {problem}")
        )
    if report.ok:
        print("  every table's row count and the audit chain head match the backup")
        return 0
    print("error: the restored database does not match its backup", file=sys.stderr)
    return 1


def masked_copy(
    settings: Settings, source: Path | None, folder: Path | None, key_file: Path | None
) -> int:
    """`carebase db masked-copy [--from DIR] [--to DIR] [--key-file FILE]`."""
    from devstack import backup, masked_copy

    if folder is None:
        folder = backup.default_folder(settings).with_name(
            backup.default_folder(settings).name.replace(
                settings.db_name, f"{settings.db_name}-masked"
            )
        )
    copy, replaced = masked_copy.masked_copy(settings, source, folder, key_file)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(replaced.items()))
    print(
        f"masked copy: {copy.source} -> {folder}\n"
        f"  {len(copy.counts)} tables, {sum(copy.counts.values()):,} rows;"
        f" distinct values replaced: {kinds}\n"
        "  encrypted columns re-encrypted under new keys; the audit chain rebuilt over the"
        " masked entries\n"
        f"  load it: carebase db restore {folder}  (into a fresh cluster or database)"
    )
    return 0


def audit_retention(settings: Settings, folder: Path | None, apply: bool) -> int:
    """`carebase db retention [--apply] [--archive-dir DIR]`: the dry run by default."""
    from devstack import retention

    return retention.run(settings, folder or retention.default_folder(settings), apply)


def stop(settings: Settings) -> None:
    print("database: stopped" if postgres.stop(settings) else "database: was not running")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carebase", description="carebase local stack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="start the database, migrate, seed when new, add the demo data when missing"
    )
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("gateway", help="run the API gateway (:54321) in the foreground")
    commands.add_parser(
        "worker", help="run the worker (notifications, audit anchors) in the foreground"
    )
    audit_command = commands.add_parser("audit", help="the audit chain's exported anchors")
    audit_actions = audit_command.add_subparsers(dest="action", required=True)
    # Its options (--dir, --public-key, --help) are the verifier's own.
    audit_actions.add_parser(
        "verify", help="verify the chain against the signed anchors", add_help=False
    )
    audit_actions.add_parser("public-key", help="print the anchors' public key (for verifiers)")
    reconcile = commands.add_parser("reconcile", help="reconcile a mirror with its source")
    reconcile_what = reconcile.add_subparsers(dest="action", required=True)
    cal = reconcile_what.add_parser(
        "cal", help="one Cal.com reconciliation run now (default: last 7 to next 30 days)"
    )
    cal.add_argument("--from", dest="start", type=_moment, help="window start (ISO 8601)")
    cal.add_argument("--to", dest="end", type=_moment, help="window end, excluded (ISO 8601)")
    # The generator lives in seed/ (see README, "Synthetic data"); its options are its own.
    commands.add_parser(
        "seed", help="synthetic data: generate --size tiny|demo|large|xl, check", add_help=False
    )
    # The code tables' loader lives in codes/ (README, "Diagnosis codes"); its options its own.
    commands.add_parser(
        "codes", help="diagnosis code tables: load (ICD-10-CM, or a file), status", add_help=False
    )
    evaluate = commands.add_parser("eval", help="evaluation sets")
    evaluate.add_subparsers(dest="action", required=True).add_parser(
        "copilot", help="the copilot's evaluation set against the real model (ANTHROPIC_API_KEY)"
    )
    db = commands.add_parser("db", help="the local PostgreSQL").add_subparsers(
        dest="action", required=True
    )
    for action, text in (
        ("start", "start the cluster (create it when missing)"),
        ("stop", "stop the cluster"),
        ("status", "say whether it runs and how to reach it"),
        ("migrate", "apply the platform shim and pending migrations"),
        ("seed", "run supabase/seed.sql"),
        (
            "reset",
            "recreate the database: migrations, supabase/seed.sql, ICD-10-CM, the demo data",
        ),
        ("schema", "write supabase/schema.sql from a scratch database the migrations build"),
    ):
        db.add_parser(action, help=text)
    db.add_parser(
        "lint", help="run the database linter (Supabase's advisors); fails on ERROR or WARN"
    )
    db.add_parser("psql", help="open psql as postgres").add_argument("args", nargs="*")
    backup_command = db.add_parser(
        "backup", help="pg_dump the database with its roles, anchors and a manifest of row counts"
    )
    backup_command.add_argument(
        "--to", dest="folder", type=Path, help="a new folder (default .local/backups/<db>-<time>)"
    )
    restore_command = db.add_parser(
        "restore", help="restore a backup into a fresh cluster and check it against its manifest"
    )
    restore_command.add_argument("folder", type=Path, help="the backup folder")
    restore_command.add_argument(
        "--replace", action="store_true", help="drop the target database first if it holds data"
    )
    masked_command = db.add_parser(
        "masked-copy",
        help="a backup folder of this database (or --from one) with every personal value replaced",
    )
    masked_command.add_argument(
        "--from", dest="source", type=Path, help="a backup folder (default: back up this database)"
    )
    masked_command.add_argument(
        "--to",
        dest="folder",
        type=Path,
        help="a new folder (default .local/backups/<db>-masked-<time>)",
    )
    masked_command.add_argument(
        "--key-file",
        type=Path,
        help="base64 masking key (32+ bytes) for fakes that agree across copies (default: random)",
    )
    retention_command = db.add_parser(
        "retention",
        help="audit partitions older than 7 years: list them (dry run) or, with --apply,"
        " archive them to files and drop them",
    )
    retention_command.add_argument(
        "--apply", action="store_true", help="archive and drop (default: only list)"
    )
    retention_command.add_argument(
        "--archive-dir",
        dest="folder",
        type=Path,
        help="where the archive files go (default .local/audit-archive)",
    )
    args, extra = parser.parse_known_args(argv)
    if (
        extra
        and args.command not in ("seed", "codes")
        and (args.command, getattr(args, "action", "")) != ("audit", "verify")
    ):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    settings = Settings.from_env()
    try:
        if args.command == "up":
            up(settings)
        elif args.command == "down":
            down(settings)
        elif args.command == "gateway":
            serve_gateway(settings)
        elif args.command == "worker":
            run_worker(settings)
        elif args.command == "audit":
            return audit(settings, args.action, extra)
        elif args.command == "reconcile":
            return reconcile_calendar(settings, args.start, args.end)
        elif args.command == "eval":
            return eval_copilot(settings)
        elif args.command == "seed":
            from seed import cli as seed_cli

            return seed_cli.main(extra, settings.dsn())
        elif args.command == "codes":
            from codes import cli as codes_cli

            return codes_cli.main(extra, settings.dsn())
        elif args.action == "status":
            return status(settings)
        elif args.action == "lint":
            return lint_database(settings)
        elif args.action == "psql":
            psql(settings, args.args)
        elif args.action == "backup":
            return backup_database(settings, args.folder)
        elif args.action == "restore":
            return restore_database(settings, args.folder, args.replace)
        elif args.action == "masked-copy":
            return masked_copy(settings, args.source, args.folder, args.key_file)
        elif args.action == "retention":
            return audit_retention(settings, args.folder, args.apply)
        else:
            actions = {"start": start, "stop": stop, "migrate": migrate, "seed": seed}
            actions |= {"reset": reset, "schema": write_schema}
            actions[args.action](settings)
    except DevstackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as error:
        print(
            f"error: cannot reach the database: {str(error).strip()}\n"
            "  fix: start it with `carebase db start` (or `make up`)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
