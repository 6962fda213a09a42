"""The migration runner: order, bookkeeping as the Supabase CLI keeps it, atomic failures."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from devstack.config import Settings
from devstack.errors import DevstackError
from devstack.migrate import apply_migrations, apply_platform, apply_seed
from tests.conftest import ScratchDatabase, scratch_database


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def recorded(db: ScratchDatabase) -> list[tuple]:
    with psycopg.connect(db.dsn()) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()


def relation_exists(db: ScratchDatabase, name: str) -> bool:
    with psycopg.connect(db.dsn()) as conn:
        return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def test_migrations_apply_in_name_order_once(platform_db: ScratchDatabase, tmp_path: Path) -> None:
    write(tmp_path, "20260102000000_add_column.sql", "alter table public.things add column b int;")
    write(tmp_path, "20260101000000_create_things.sql", "create table public.things (a int);\n")

    applied = apply_migrations(platform_db.dsn(), tmp_path)

    assert applied == ["20260101000000_create_things.sql", "20260102000000_add_column.sql"]
    assert recorded(platform_db) == [
        ("20260101000000", "create_things", ["create table public.things (a int);"]),
        ("20260102000000", "add_column", ["alter table public.things add column b int;"]),
    ]
    assert apply_migrations(platform_db.dsn(), tmp_path) == [], "applied ones are skipped"


def test_a_failing_migration_names_file_and_line_and_changes_nothing(
    platform_db: ScratchDatabase, tmp_path: Path
) -> None:
    write(tmp_path, "20260101000000_good.sql", "create table public.good (a int);")
    bad = write(
        tmp_path,
        "20260102000000_bad.sql",
        "create table public.half_done (a int);\n\ninsert into public.half_done\n"
        "values (1);\nselect 1 / 0;\ncreate table public.never (a int);\n",
    )

    with pytest.raises(DevstackError) as failure:
        apply_migrations(platform_db.dsn(), tmp_path)

    message = str(failure.value)
    assert f"{bad}:5:" in message
    assert "division by zero" in message
    assert relation_exists(platform_db, "public.good")
    assert not relation_exists(platform_db, "public.half_done"), "the failed file is rolled back"
    assert [row[0] for row in recorded(platform_db)] == ["20260101000000"]


def test_a_syntax_error_points_at_its_own_line(
    platform_db: ScratchDatabase, tmp_path: Path
) -> None:
    bad = write(
        tmp_path,
        "20260101000000_typo.sql",
        "-- a comment\ncreate table public.t (\n    a int,\n    b itn\n);\n",
    )
    with pytest.raises(DevstackError) as failure:
        apply_migrations(platform_db.dsn(), tmp_path)
    assert f"{bad}:4:" in str(failure.value)
    assert 'type "itn" does not exist' in str(failure.value)


def test_a_deferred_constraint_failing_at_commit_names_the_file_and_changes_nothing(
    platform_db: ScratchDatabase, tmp_path: Path
) -> None:
    bad = write(
        tmp_path,
        "20260101000000_dangling.sql",
        "create table public.parents (id int primary key);\n"
        "create table public.children (parent_id int references public.parents (id)"
        " deferrable initially deferred);\n"
        "insert into public.children values (42);\n",
    )
    with pytest.raises(DevstackError) as failure:
        apply_migrations(platform_db.dsn(), tmp_path)
    message = str(failure.value)
    assert f"{bad}: at commit:" in message
    assert "violates foreign key constraint" in message
    assert not relation_exists(platform_db, "public.children")
    assert recorded(platform_db) == []


def test_a_failing_seed_names_file_and_line_and_leaves_no_row(
    platform_db: ScratchDatabase, tmp_path: Path
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.things (a int not null)")
    seed = write(
        tmp_path,
        "seed.sql",
        "insert into public.things values (1);\n\ninsert into public.things values (null);\n",
    )
    with pytest.raises(DevstackError) as failure:
        apply_seed(platform_db.dsn(), seed)
    assert f"{seed}:3:" in str(failure.value)
    assert 'null value in column "a"' in str(failure.value)
    with psycopg.connect(platform_db.dsn()) as conn:
        assert conn.execute("select count(*) from public.things").fetchone() == (0,)


@pytest.mark.parametrize(
    "name", ["create_things.sql", "2026010100000000_sixteen_digits.sql", "20260101_date_only.sql"]
)
def test_a_misnamed_migration_is_refused(
    platform_db: ScratchDatabase, tmp_path: Path, name: str
) -> None:
    write(tmp_path, name, "select 1;")
    with pytest.raises(DevstackError, match=r"not named <14-digit UTC timestamp>_<name>\.sql"):
        apply_migrations(platform_db.dsn(), tmp_path)
    assert recorded(platform_db) == []


def test_a_database_migrated_from_files_since_renamed_is_refused(
    platform_db: ScratchDatabase, tmp_path: Path
) -> None:
    old = write(tmp_path, "20260101000000_create_things.sql", "create table public.things (a int);")
    apply_migrations(platform_db.dsn(), tmp_path)
    old.rename(tmp_path / "20260101000001_create_things.sql")
    write(tmp_path, "20260102000000_add_column.sql", "alter table public.things add column b int;")

    with pytest.raises(DevstackError, match=r"not in .*: 20260101000000") as failure:
        apply_migrations(platform_db.dsn(), tmp_path)

    assert "carebase db reset" in failure.value.fix
    assert [row[0] for row in recorded(platform_db)] == ["20260101000000"], "nothing applied"


def test_the_shim_is_applied_once_per_database(platform_db: ScratchDatabase) -> None:
    settings = platform_db.settings
    again = apply_platform(
        platform_db.dsn(settings.admin_user), settings.platform_dir, settings.db_password
    )
    assert again == []


def test_databases_of_one_cluster_can_be_shimmed_at_the_same_time(stack: Settings) -> None:
    """Roles are cluster-wide: parallel shims must not collide on them (test runs side by side)."""
    with contextlib.ExitStack() as stack_of_dbs:
        dbs = [stack_of_dbs.enter_context(scratch_database(stack)) for _ in range(4)]
        with ThreadPoolExecutor(len(dbs)) as pool:
            applied = list(
                pool.map(
                    lambda db: apply_platform(
                        db.dsn(stack.admin_user), stack.platform_dir, stack.db_password
                    ),
                    dbs,
                )
            )
    shim_files = sorted(path.name for path in stack.platform_dir.glob("*.sql"))
    assert applied == [shim_files] * len(dbs)


def test_the_shim_refuses_a_database_that_already_is_supabase(scratch_db: ScratchDatabase) -> None:
    settings = scratch_db.settings
    with psycopg.connect(scratch_db.dsn(settings.admin_user), autocommit=True) as conn:
        conn.execute("create schema auth")  # what a real Supabase database has
    with pytest.raises(DevstackError, match="already is a Supabase database"):
        apply_platform(scratch_db.dsn(settings.admin_user), settings.platform_dir, "x")
    assert not relation_exists(scratch_db, "_devstack.platform_files")


def test_the_project_migrations_apply_as_postgres_on_the_shim(
    platform_db: ScratchDatabase,
) -> None:
    """As `supabase db push` does: as `postgres`, which is not a superuser on Supabase."""
    settings = platform_db.settings
    applied = apply_migrations(platform_db.dsn(), settings.migrations_dir)
    assert applied == sorted(p.name for p in settings.migrations_dir.glob("*.sql"))
    with psycopg.connect(platform_db.dsn()) as conn:
        superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user")
        assert superuser.fetchone() == (False,)
