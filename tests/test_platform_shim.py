"""The platform shim behaves as a Supabase database does before any migration.

Every test runs on a fresh database with only `sql/platform` applied, connected as the roles
Supabase's clients and services log in as, and checks what those clients would notice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import errors

from devstack.config import Settings
from tests.conftest import ScratchDatabase

API_ROLES = ("anon", "authenticated", "service_role")


def act_as(conn: psycopg.Connection, role: str, claims: dict[str, Any] | None = None) -> None:
    """For the rest of the transaction, be `role` with these JWT claims, as PostgREST does."""
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        (role, json.dumps(claims if claims is not None else {"role": role})),
    )


def create_user(conn: psycopg.Connection, email: str) -> uuid.UUID:
    """An auth user, inserted as a seed file (run as postgres) would."""
    user_id = uuid.uuid4()
    conn.execute(
        "insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data,"
        " raw_user_meta_data, created_at, updated_at)"
        " values ('00000000-0000-0000-0000-000000000000', %s, 'authenticated', 'authenticated',"
        " %s, '{}', '{}', now(), now())",
        (user_id, email),
    )
    return user_id


def collect_notices(conn: psycopg.Connection) -> list[tuple[str | None, str | None]]:
    """(severity, message) of every notice the server sends from now on."""
    notices: list[tuple[str | None, str | None]] = []
    # The diagnostic is only readable inside the handler: copy what the tests check.
    conn.add_notice_handler(
        lambda diag: notices.append((diag.severity_nonlocalized, diag.message_primary))
    )
    return notices


# --- roles ---------------------------------------------------------------------------------


def test_postgres_is_not_a_superuser_but_creates_databases_and_roles_and_bypasses_rls(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin"
            " from pg_roles where rolname = current_user"
        ).fetchone()
    assert row == (False, True, True, True, True)


@pytest.mark.parametrize(
    ("role", "attributes"),
    [
        # (login, inherit, bypassrls, superuser)
        ("anon", (False, True, False, False)),
        ("authenticated", (False, True, False, False)),
        ("service_role", (False, True, True, False)),
        ("authenticator", (True, False, False, False)),
        ("supabase_auth_admin", (True, False, False, False)),
        ("supabase_realtime_admin", (True, False, False, False)),  # and replication
        ("supabase_storage_admin", (True, False, False, False)),
    ],
)
def test_the_supabase_roles_have_supabase_attributes(
    platform_db: ScratchDatabase, role: str, attributes: tuple[bool, ...]
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select rolcanlogin, rolinherit, rolbypassrls, rolsuper from pg_roles"
            " where rolname = %s",
            (role,),
        ).fetchone()
    assert row == attributes


def test_authenticator_is_a_member_of_exactly_the_three_api_roles(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        granted = conn.execute(
            "select array_agg(m.roleid::regrole::text order by m.roleid::regrole::text)"
            " from pg_auth_members m where m.member = 'authenticator'::regrole"
        ).fetchone()
    assert granted == (["anon", "authenticated", "service_role"],)


@pytest.mark.parametrize("role", API_ROLES)
def test_postgres_can_switch_to_each_api_role(platform_db: ScratchDatabase, role: str) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute(f"set role {role}")
        assert conn.execute("select current_user").fetchone() == (role,)


def test_service_role_sees_rows_that_row_level_security_hides_from_authenticated(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.notes (body text)")
        conn.execute("alter table public.notes enable row level security")
        conn.execute("grant select on public.notes to authenticated, service_role")
        conn.execute("insert into public.notes values ('hidden by RLS, no policy')")
        conn.commit()

        act_as(conn, "authenticated")
        assert conn.execute("select count(*) from public.notes").fetchone() == (0,)
        conn.rollback()

        act_as(conn, "service_role")
        assert conn.execute("select count(*) from public.notes").fetchone() == (1,)


def test_authenticator_logs_in_and_becomes_authenticated(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn("authenticator")) as conn:
        assert conn.execute("select session_user").fetchone() == ("authenticator",)
        conn.execute("set role authenticated")
        assert conn.execute("select current_user").fetchone() == ("authenticated",)


def test_authenticator_cannot_use_the_rights_of_authenticated_without_switching(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as owner:
        owner.execute("create table public.members_only (a int)")
        owner.execute("revoke all on public.members_only from anon, service_role")
        owner.execute("grant select on public.members_only to authenticated")
        owner.execute("insert into public.members_only values (1)")

    with psycopg.connect(platform_db.dsn("authenticator")) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select a from public.members_only")
        conn.rollback()
        conn.execute("set role authenticated")
        assert conn.execute("select a from public.members_only").fetchall() == [(1,)]


@pytest.mark.parametrize(("role", "timeout"), [("anon", "3s"), ("authenticated", "8s")])
def test_api_roles_carry_supabase_statement_timeouts(
    platform_db: ScratchDatabase, role: str, timeout: str
) -> None:
    """PostgREST applies these role settings when it switches to the role for a request."""
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select setconfig from pg_db_role_setting"
            " where setrole = %s::regrole and setdatabase = 0",
            (role,),
        ).fetchone()
    assert row is not None
    assert f"statement_timeout={timeout}" in row[0]


def test_authenticator_sessions_start_with_an_8s_statement_timeout(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn("authenticator")) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("8s",)


# --- auth.uid(), auth.role(), auth.email(), auth.jwt() -------------------------------------


def test_the_auth_functions_read_the_request_jwt_claims(platform_db: ScratchDatabase) -> None:
    user_id = uuid.uuid4()
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "email": "a@example.test",
        "aal": "aal1",
    }
    with psycopg.connect(platform_db.dsn()) as conn:
        act_as(conn, "authenticated", claims)
        row = conn.execute("select auth.uid(), auth.role(), auth.email(), auth.jwt()").fetchone()
    assert row == (user_id, "authenticated", "a@example.test", claims)


def test_the_legacy_claim_sub_setting_wins_over_the_claims(platform_db: ScratchDatabase) -> None:
    legacy, current = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(platform_db.dsn()) as conn:
        act_as(conn, "authenticated", {"sub": str(current), "role": "authenticated"})
        conn.execute("select set_config('request.jwt.claim.sub', %s, true)", (str(legacy),))
        assert conn.execute("select auth.uid()").fetchone() == (legacy,)


@pytest.mark.parametrize(("function", "claim"), [("role", "role"), ("email", "email")])
def test_the_legacy_role_and_email_settings_win_over_the_claims(
    platform_db: ScratchDatabase, function: str, claim: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        act_as(conn, "authenticated", {"role": "authenticated", "email": "new@example.test"})
        conn.execute("select set_config(%s, 'legacy-value', true)", (f"request.jwt.claim.{claim}",))
        row = conn.execute(f"select auth.{function}()").fetchone()
    assert row == ("legacy-value",)


def test_the_legacy_claim_setting_wins_over_the_claims_for_auth_jwt(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        act_as(conn, "authenticated", {"role": "authenticated", "aal": "aal1"})
        conn.execute("select set_config('request.jwt.claim', '{\"aal\": \"aal2\"}', true)")
        assert conn.execute("select auth.jwt()").fetchone() == ({"aal": "aal2"},)


def test_without_any_claims_the_auth_functions_read_null(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute("select auth.uid(), auth.role(), auth.email(), auth.jwt()").fetchone()
    assert row == (None, None, None, None)


def test_settings_emptied_by_an_earlier_transaction_read_as_null(
    platform_db: ScratchDatabase,
) -> None:
    settings = [
        "request.jwt.claims",
        "request.jwt.claim",
        "request.jwt.claim.sub",
        "request.jwt.claim.role",
        "request.jwt.claim.email",
    ]
    with psycopg.connect(platform_db.dsn()) as conn:
        for name in settings:
            conn.execute("select set_config(%s, %s, true)", (name, '{"sub": "x"}'))
        conn.commit()
        left = conn.execute(
            "select array_agg(current_setting(s, true)) from unnest(%s::text[]) as s", (settings,)
        ).fetchone()
        assert left == ([""] * len(settings),), "a `set local` leaves an empty string behind"

        row = conn.execute("select auth.uid(), auth.role(), auth.email(), auth.jwt()").fetchone()
    assert row == (None, None, None, None)


def test_an_emptied_legacy_sub_setting_does_not_hide_the_claims(
    platform_db: ScratchDatabase,
) -> None:
    user_id = uuid.uuid4()
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("select set_config('request.jwt.claim.sub', %s, true)", (str(uuid.uuid4()),))
        conn.commit()
        act_as(conn, "authenticated", {"sub": str(user_id), "role": "authenticated"})
        assert conn.execute("select auth.uid()").fetchone() == (user_id,)


def test_a_sub_that_is_not_a_uuid_raises(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        act_as(conn, "authenticated", {"sub": "not-a-uuid", "role": "authenticated"})
        with pytest.raises(errors.InvalidTextRepresentation):
            conn.execute("select auth.uid()")


@pytest.mark.parametrize("function", ["uid", "role", "email", "jwt"])
def test_the_auth_functions_are_stable_sql_that_policies_can_inline(
    platform_db: ScratchDatabase, function: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select l.lanname, p.provolatile, p.prosecdef, p.proconfig from pg_proc p"
            " join pg_language l on l.oid = p.prolang"
            " where p.oid = %s::regprocedure",
            (f"auth.{function}()",),
        ).fetchone()
    assert row == ("sql", "s", False, None)


# --- a Supabase-style migration, run as postgres -------------------------------------------


def test_a_trigger_on_auth_users_runs_its_definer_function_when_auth_signs_up_a_user(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute(
            "create table public.profiles ("
            " id uuid primary key references auth.users (id) on delete cascade, email text)"
        )
        conn.execute(
            """
            create function public.handle_new_user() returns trigger
            language plpgsql security definer set search_path = ''
            as $$
            begin
                insert into public.profiles (id, email) values (new.id, new.email);
                return new;
            end;
            $$
            """
        )
        conn.execute(
            "create trigger on_auth_user_created after insert on auth.users"
            " for each row execute function public.handle_new_user()"
        )

    user_id = uuid.uuid4()
    # Supabase Auth inserts the user as its own role, which holds no right on public.profiles.
    with psycopg.connect(platform_db.dsn("supabase_auth_admin")) as auth:
        auth.execute(
            "insert into auth.users (id, aud, role, email) values"
            " (%s, 'authenticated', 'authenticated', 'new@example.test')",
            (user_id,),
        )

    with psycopg.connect(platform_db.dsn()) as conn:
        rows = conn.execute("select id, email from public.profiles").fetchall()
    assert rows == [(user_id, "new@example.test")]


def test_a_policy_on_auth_uid_shows_each_user_only_their_own_rows(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute(
            "create table public.notes ("
            " id bigint generated always as identity primary key,"
            " user_id uuid not null references auth.users (id), body text)"
        )
        conn.execute("alter table public.notes enable row level security")
        conn.execute(
            "create policy notes_select_own on public.notes for select to authenticated"
            " using ((select auth.uid()) = user_id)"
        )
        alice = create_user(conn, "alice@example.test")
        bob = create_user(conn, "bob@example.test")
        conn.execute(
            "insert into public.notes (user_id, body) values (%s, 'alice''s'), (%s, 'bob''s')",
            (alice, bob),
        )
        conn.commit()

        seen = {}
        for name, user_id in (("alice", alice), ("bob", bob)):
            act_as(conn, "authenticated", {"sub": str(user_id), "role": "authenticated"})
            seen[name] = [row[0] for row in conn.execute("select body from public.notes")]
            conn.rollback()
    assert seen == {"alice": ["alice's"], "bob": ["bob's"]}


@pytest.mark.parametrize("extension", ["pgcrypto", "uuid-ossp"])
def test_creating_a_preinstalled_extension_in_extensions_is_a_no_op(
    platform_db: ScratchDatabase, extension: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        notices = collect_notices(conn)
        query = "select oid, extnamespace::regnamespace::text from pg_extension where extname = %s"
        before = conn.execute(query, (extension,)).fetchone()
        conn.execute(f'create extension if not exists "{extension}" with schema extensions')
        after = conn.execute(query, (extension,)).fetchone()
    assert before is not None
    assert before == after
    assert before[1] == "extensions"
    assert notices == [("NOTICE", f'extension "{extension}" already exists, skipping')]


def test_the_extensions_supabase_has_are_installed_in_extensions(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        found = conn.execute(
            "select extname from pg_extension"
            " where extnamespace = 'extensions'::regnamespace order by extname"
        ).fetchall()
    assert {"btree_gist", "citext", "pg_trgm", "pgcrypto", "uuid-ossp"} <= {r[0] for r in found}


def test_pg_cron_is_preloaded_and_postgres_schedules_jobs_in_the_main_database(
    stack: Settings,
) -> None:
    """As on Supabase: pg_cron in pg_catalog, its jobs scheduled by postgres through cron.*."""
    with psycopg.connect(stack.dsn()) as conn:
        assert "pg_cron" in conn.execute("show shared_preload_libraries").fetchone()[0]
        schema = conn.execute(
            "select extnamespace::regnamespace::text from pg_extension where extname = 'pg_cron'"
        ).fetchone()
        assert schema == ("pg_catalog",)
        conn.execute("select cron.schedule('shim-probe', '0 3 * * *', 'select 1')")
        jobs = conn.execute(
            "select schedule, command, username from cron.job where jobname = 'shim-probe'"
        ).fetchall()
        conn.rollback()
    assert jobs == [("0 3 * * *", "select 1", "postgres")]


def test_a_migration_can_add_policies_on_storage_objects(platform_db: ScratchDatabase) -> None:
    """Supabase lets postgres (which does not own storage.objects) add policies to it."""
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute(
            "create policy own_folder on storage.objects for select to authenticated"
            " using ((storage.foldername(name))[1] = (select auth.uid())::text)"
        )
        policies = conn.execute(
            "select policyname from pg_policies where schemaname = 'storage'"
            " and tablename = 'objects'"
        ).fetchall()
    assert policies == [("own_folder",)]


def test_a_migration_cannot_create_objects_in_the_auth_schema(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("create table auth.extra (id int)")


# --- storage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "folders", "filename", "extension"),
    [
        ("avatars/user-1/photo.png", ["avatars", "user-1"], "photo.png", "png"),
        ("archive.tar.gz", [], "archive.tar.gz", "gz"),
        ("docs/README", ["docs"], "README", "README"),
    ],
)
def test_storage_path_helpers_split_an_object_name_as_supabase_does(
    platform_db: ScratchDatabase, name: str, folders: list[str], filename: str, extension: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select storage.foldername(%(n)s), storage.filename(%(n)s), storage.extension(%(n)s)",
            {"n": name},
        ).fetchone()
    assert row == (folders, filename, extension)


def test_storage_objects_are_hidden_from_api_roles_until_a_policy_allows_them(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("insert into storage.buckets (id, name) values ('docs', 'docs')")
        conn.execute("insert into storage.objects (bucket_id, name) values ('docs', 'a/b.pdf')")
        conn.commit()
        rls = conn.execute(
            "select relrowsecurity from pg_class where oid = 'storage.objects'::regclass"
        ).fetchone()
        assert rls == (True,)

        act_as(conn, "authenticated", {"sub": str(uuid.uuid4()), "role": "authenticated"})
        assert conn.execute("select count(*) from storage.objects").fetchone() == (0,)


# --- realtime ------------------------------------------------------------------------------


def test_realtime_send_inserts_a_private_broadcast_message(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("select realtime.send('{\"hello\": \"world\"}', 'greeting', 'room:1')")
        rows = conn.execute(
            "select id, topic, event, extension, private, payload from realtime.messages"
        ).fetchall()
    assert len(rows) == 1
    message_id, topic, event, extension, private, payload = rows[0]
    assert (topic, event, extension, private) == ("room:1", "greeting", "broadcast", True)
    assert payload == {"hello": "world", "id": str(message_id)}


def test_realtime_send_with_bad_input_only_warns_and_the_transaction_commits(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.orders (id int)")
        conn.commit()
        notices = collect_notices(conn)

        conn.execute("insert into public.orders values (1)")
        conn.execute("select realtime.send('{\"x\": 1}', 'no topic', null)")
        conn.execute("select realtime.send('[1, 2]', 'not an object', 'room:1')")
        conn.execute("insert into public.orders values (2)")
        conn.commit()

        orders = conn.execute("select id from public.orders order by id").fetchall()
        messages = conn.execute("select count(*) from realtime.messages").fetchone()
    assert orders == [(1,), (2,)]
    assert messages == (0,)
    assert [severity for severity, _ in notices] == ["WARNING", "WARNING"]
    assert all(message.startswith("ErrorSendingBroadcastMessage: ") for _, message in notices)


def test_realtime_topic_reads_the_realtime_topic_setting(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        assert conn.execute("select realtime.topic()").fetchone() == (None,)
        conn.execute("select set_config('realtime.topic', 'room:42', true)")
        assert conn.execute("select realtime.topic()").fetchone() == ("room:42",)
        conn.commit()
        assert conn.execute("select realtime.topic()").fetchone() == (None,), "empty is null"


def test_an_insert_policy_on_realtime_topic_decides_what_a_user_may_broadcast(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute(
            "create policy send_to_room_1 on realtime.messages for insert to authenticated"
            " with check ((select realtime.topic()) = 'room:1')"
        )
        conn.commit()
        notices = collect_notices(conn)
        act_as(conn, "authenticated", {"sub": str(uuid.uuid4()), "role": "authenticated"})
        conn.execute("select realtime.send('{}', 'hi', 'room:1')")
        conn.execute("select realtime.send('{}', 'hi', 'room:2')")
        conn.commit()

        topics = conn.execute("select topic from realtime.messages").fetchall()
    assert topics == [("room:1",)]
    assert [severity for severity, _ in notices] == ["WARNING"]
    assert "row-level security" in notices[0][1]


def test_broadcast_changes_sends_the_row_change_with_old_and_new_records(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.rooms (id int primary key, name text)")
        conn.execute(
            """
            create function public.rooms_broadcast() returns trigger
            language plpgsql security definer set search_path = ''
            as $$
            begin
                perform realtime.broadcast_changes(
                    'room:' || coalesce(new.id, old.id)::text, tg_op, tg_op,
                    tg_table_name, tg_table_schema, new, old
                );
                return null;
            end;
            $$
            """
        )
        conn.execute(
            "create trigger rooms_broadcast after insert or update on public.rooms"
            " for each row execute function public.rooms_broadcast()"
        )
        conn.execute("insert into public.rooms values (1, 'lobby')")
        conn.execute("update public.rooms set name = 'hall' where id = 1")
        rows = conn.execute(
            "select id, topic, event, private, payload from realtime.messages order by event"
        ).fetchall()

    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("room:1", "INSERT", True),
        ("room:1", "UPDATE", True),
    ]
    assert rows[0][4]["old_record"] is None
    update_id, update_payload = rows[1][0], rows[1][4]
    assert update_payload == {
        "id": str(update_id),
        "operation": "UPDATE",
        "schema": "public",
        "table": "rooms",
        "record": {"id": 1, "name": "hall"},
        "old_record": {"id": 1, "name": "lobby"},
    }


def test_the_supabase_realtime_publication_exists_and_is_empty(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        row = conn.execute(
            "select p.puballtables,"
            " (select count(*) from pg_publication_tables t where t.pubname = p.pubname)"
            " from pg_publication p where p.pubname = 'supabase_realtime'"
        ).fetchone()
    assert row == (False, 0)


def test_a_migration_can_add_its_table_to_the_supabase_realtime_publication(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.messages (id int primary key)")
        conn.execute("alter publication supabase_realtime add table public.messages")
        tables = conn.execute(
            "select schemaname, tablename from pg_publication_tables"
            " where pubname = 'supabase_realtime'"
        ).fetchall()
    assert tables == [("public", "messages")]


# --- vault ---------------------------------------------------------------------------------


def test_a_created_secret_reads_back_decrypted_as_postgres(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        (secret_id,) = conn.execute(
            "select vault.create_secret('sk_live_123', 'stripe_key', 'payments')"
        ).fetchone()
        conn.commit()
        row = conn.execute(
            "select name, description, decrypted_secret from vault.decrypted_secrets where id = %s",
            (secret_id,),
        ).fetchone()
    assert row == ("stripe_key", "payments", "sk_live_123")


def test_the_stored_secret_is_not_the_plaintext(platform_db: ScratchDatabase) -> None:
    plaintext = "sk_live_123"
    with psycopg.connect(platform_db.dsn()) as conn:
        (secret_id,) = conn.execute("select vault.create_secret(%s)", (plaintext,)).fetchone()
        (stored,) = conn.execute(
            "select secret from vault.secrets where id = %s", (secret_id,)
        ).fetchone()
    assert stored
    assert plaintext not in stored


def test_service_role_reads_decrypted_secrets(platform_db: ScratchDatabase) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        (secret_id,) = conn.execute("select vault.create_secret('s3cret')").fetchone()
        act_as(conn, "service_role")
        row = conn.execute(
            "select decrypted_secret from vault.decrypted_secrets where id = %s", (secret_id,)
        ).fetchone()
    assert row == ("s3cret",)


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize(
    "statement",
    ["select decrypted_secret from vault.decrypted_secrets", "select vault.create_secret('x')"],
)
def test_anon_and_authenticated_are_refused_the_vault(
    platform_db: ScratchDatabase, role: str, statement: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("select vault.create_secret('s3cret')")
        act_as(conn, role, {"sub": str(uuid.uuid4()), "role": role})
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)


# --- PostgREST schema cache ----------------------------------------------------------------


@pytest.mark.parametrize(
    "ddl",
    ["create table public.things (a int)", "create view public.one as select 1 as a"],
)
def test_pgrst_listeners_hear_reload_schema_after_postgres_changes_the_schema(
    platform_db: ScratchDatabase, ddl: str
) -> None:
    with psycopg.connect(platform_db.dsn(), autocommit=True) as listener:
        listener.execute("listen pgrst")
        with psycopg.connect(platform_db.dsn()) as conn:
            conn.execute(ddl)
        heard = [(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [("pgrst", "reload schema")]


def test_a_data_change_does_not_make_pgrst_reload_the_schema(
    platform_db: ScratchDatabase,
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.things (a int)")
    with psycopg.connect(platform_db.dsn(), autocommit=True) as listener:
        listener.execute("listen pgrst")
        with psycopg.connect(platform_db.dsn(), autocommit=True) as conn:
            conn.execute("insert into public.things values (1)")
            conn.execute("drop table public.things")  # the control: this one must be heard
        heard = [n.payload for n in listener.notifies(timeout=1)]
    assert heard == ["reload schema"], "one notice, from the drop; the insert sends none"


# --- default privileges --------------------------------------------------------------------


@pytest.mark.parametrize("role", API_ROLES)
def test_a_table_postgres_creates_in_public_is_granted_to_the_api_roles(
    platform_db: ScratchDatabase, role: str
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create table public.things (id bigint generated by default as identity)")
        row = conn.execute(
            "select has_table_privilege(%(r)s, 'public.things', 'select, insert, update, delete'),"
            " has_sequence_privilege(%(r)s, pg_get_serial_sequence('public.things', 'id'),"
            " 'usage')",
            {"r": role},
        ).fetchone()
    assert row == (True, True)


@pytest.mark.parametrize("role", API_ROLES)
def test_a_function_postgres_creates_in_public_is_granted_to_the_api_roles(
    platform_db: ScratchDatabase, role: str
) -> None:
    """Even with PUBLIC's execute revoked, as Supabase's default privileges name each role."""
    with psycopg.connect(platform_db.dsn()) as conn:
        conn.execute("create function public.answer() returns int language sql as 'select 42'")
        conn.execute("revoke execute on function public.answer() from public")
        row = conn.execute(
            "select has_function_privilege(%s, 'public.answer()', 'execute')", (role,)
        ).fetchone()
    assert row == (True,)


# --- auth tables ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        (
            "users",
            {
                "id",
                "aud",
                "role",
                "email",
                "encrypted_password",
                "email_confirmed_at",
                "phone",
                "phone_confirmed_at",
                "confirmed_at",
                "last_sign_in_at",
                "raw_app_meta_data",
                "raw_user_meta_data",
                "banned_until",
                "deleted_at",
                "is_anonymous",
                "is_sso_user",
                "created_at",
                "updated_at",
            },
        ),
        (
            "identities",
            {"id", "provider_id", "user_id", "identity_data", "provider", "email"},
        ),
        ("sessions", {"id", "user_id", "aal", "factor_id", "not_after", "refreshed_at"}),
        ("refresh_tokens", {"id", "token", "user_id", "revoked", "parent", "session_id"}),
        ("mfa_factors", {"id", "user_id", "friendly_name", "factor_type", "status", "secret"}),
    ],
)
def test_auth_tables_have_the_columns_supabase_auth_writes(
    platform_db: ScratchDatabase, table: str, columns: set[str]
) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        found = conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'auth' and table_name = %s",
            (table,),
        ).fetchall()
    assert columns <= {row[0] for row in found}


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_cannot_read_auth_users(platform_db: ScratchDatabase, role: str) -> None:
    with psycopg.connect(platform_db.dsn()) as conn:
        create_user(conn, "someone@example.test")
        act_as(conn, role, {"sub": str(uuid.uuid4()), "role": role})
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("select email from auth.users")
