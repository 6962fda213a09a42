"""`carebase seed generate | check`: make synthetic data of a size, and check what was loaded."""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from datetime import UTC, date, datetime

from seed import check, connection, load
from seed.sizes import SIZES
from seed.world import STAFF_PASSWORD, World


def _report_check(database_url: str) -> int:
    started = time.monotonic()
    results = check.run(database_url)
    failed = [(what, count) for what, count, _ in results if count]
    for what, count in failed:
        print(f"  FAILED  {what}: {count}")
    print(
        f"check: {len(results) - len(failed)} of {len(results)} checks passed "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 1 if failed else 0


def load_unless_present(database_url: str, size_name: str, today: date) -> str | None:
    """What `carebase up` does: loads a size (seed 1) unless its hospitals are there already,
    quietly; returns what it made in one line, or None when it was loaded before."""
    size = SIZES[size_name]
    with connection.connect(database_url) as conn, conn.cursor() as cur:
        if load.loaded_codes(cur, size):
            return None
    world = World(1, size, today)
    started = time.monotonic()
    # The per-table progress lines are for `carebase seed generate`; `up` prints one line.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            summary = load.generate(database_url, world)
        except SystemExit:
            # Another `carebase up` loaded them meanwhile (the load waited for it).
            return None
        failed = [(what, count) for what, count, _ in check.run(database_url) if count]
    rows = summary.rows
    doctor = next(s.email for s in world.staff if s.role == "doctor")
    line = (
        f"the {size.name} size for {today.isoformat()} in {time.monotonic() - started:.1f} s: "
        f"hospitals {' and '.join(h.code for h in world.hospitals)}, "
        f"{rows['public.patients']:,} patients, {rows['public.appointments']:,} appointments, "
        f"{rows['public.prescriptions']:,} prescriptions; their staff sign in as "
        f"<role><n>@<code>.carebase.test ({doctor}, ...)"
    )
    for what, count in failed:
        line += f"\n  check FAILED  {what}: {count} (carebase seed check)"
    return line


def main(argv: list[str], default_database_url: str) -> int:
    parser = argparse.ArgumentParser(prog="carebase seed", description="synthetic data")
    commands = parser.add_subparsers(dest="action", required=True)
    generate = commands.add_parser("generate", help="generate data of a size and load it")
    generate.add_argument(
        "--size",
        choices=list(SIZES),
        default="demo",
        help="tiny (60 patients), demo (400), large (100,000), xl (1M); default demo",
    )
    generate.add_argument("--seed", type=int, default=1, help="same seed, same day: same rows")
    generate.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the day the data is made for (YYYY-MM-DD; default: today, UTC)",
    )
    generate.add_argument(
        "--database-url",
        default=default_database_url,
        help="a migrated database (default: the local stack's)",
    )
    generate.add_argument("--no-check", action="store_true", help="skip the check after loading")
    checking = commands.add_parser("check", help="check the loaded data (see README)")
    checking.add_argument("--database-url", default=default_database_url)
    args = parser.parse_args(argv)
    if args.action == "check":
        return _report_check(args.database_url)
    size = SIZES[args.size]
    world = World(args.seed, size, args.today or datetime.now(UTC).date())
    print(f"seed: generating {size.name} (seed {args.seed}, for {world.today.isoformat()})")
    started = time.monotonic()
    summary = load.generate(args.database_url, world)
    loaded = time.monotonic() - started
    print(f"\n{'table':<42}{'rows':>12}{'seconds':>10}")
    for table, rows in summary.rows.items():
        print(f"{table:<42}{rows:>12,}{summary.seconds[table]:>10.1f}")
    print(f"{'total':<42}{sum(summary.rows.values()):>12,}{loaded:>10.1f}")
    staff = world.staff[0]
    app_users = summary.rows.get("auth.users", 0) - len(world.staff)
    print(
        f"\nstaff sign in as e.g. {staff.email} / {STAFF_PASSWORD} "
        f"({len(world.staff)} logins: <role><n>@<hospital code>.carebase.test)"
        f"\npatients with the app sign in by phone OTP: {app_users:,}"
    )
    if args.no_check:
        return 0
    return _report_check(args.database_url)
