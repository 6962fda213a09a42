"""The gateway while its database restarts, as PostgREST and Supabase Auth behave.

Connections found dead are replaced, so the first request after a restart (or a reset, or
`pg_terminate_backend`) succeeds; a request made while the database is down answers 503 with
PostgREST's four keys, at once; the schema listener reconnects and reloads the schema cache.
Everything runs on a throw-away cluster with its own gateway: the shared stack is never
stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from psycopg import sql

from devstack.config import Settings
from devstack.gateway import connections
from devstack.gateway import process as gateway_process
from devstack.gateway.connections import ConnectionLost, ConnectionPool
from devstack.rest import wire
from tests.auth_target import TEST_PASSWORD
from tests.test_db_lifecycle import carebase, free_port, throwaway_cluster


@dataclass(frozen=True)
class OwnStack:
    settings: Settings
    env: dict[str, str]
    email: str

    def request(self, method: str, path: str, body: object = None) -> httpx.Response:
        """One request on a new TCP connection (spread over the gateway's workers)."""
        return httpx.request(
            method,
            f"{self.settings.api_url}{path}",
            headers={"apikey": self.settings.service_role_key, "Connection": "close"},
            json=body,
            timeout=15,
        )

    def read_probe(self) -> httpx.Response:
        return self.request("GET", "/rest/v1/restart_probe?select=note&order=id")

    def sign_in(self) -> httpx.Response:
        return self.request(
            "POST",
            "/auth/v1/token?grant_type=password",
            {"email": self.email, "password": TEST_PASSWORD},
        )

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.dsn(self.settings.admin_user), autocommit=True)

    def terminate_gateway_backends(self) -> int:
        """Terminate every connection of the gateway (REST pool, Auth pool, schema listener),
        waiting until each backend has exited, as a restart or `db reset` does to them."""
        with self.admin() as conn:
            (count,) = conn.execute(
                "select count(*) filter (where pg_terminate_backend(pid, 5000)) "
                "from pg_stat_activity "
                "where usename in ('authenticator', 'supabase_auth_admin')"
            ).fetchone()  # type: ignore[misc]
        return count


@pytest.fixture(scope="module")
def own_stack() -> Iterator[OwnStack]:
    with throwaway_cluster() as cluster, pytest.MonkeyPatch.context() as patch:
        env = {**cluster, "CAREBASE_API_PORT": str(free_port())}
        for step in ("start", "migrate"):
            result = carebase("db", step, env=env)
            assert result.returncode == 0, result.stderr
        for name, value in env.items():
            patch.setenv(name, value)  # read by the gateway process started below
        settings = Settings.from_env()
        with psycopg.connect(settings.dsn(), autocommit=True) as conn:
            conn.execute(
                "create table public.restart_probe ("
                "id bigint generated always as identity primary key, note text not null)"
            )
            conn.execute("alter table public.restart_probe enable row level security")
            conn.execute("grant select, insert on public.restart_probe to service_role")
            conn.execute("insert into public.restart_probe (note) values ('before')")
        gateway_process.start(settings)
        try:
            stack = OwnStack(settings, env, f"restart-{uuid.uuid4().hex[:8]}@x.test")
            created = stack.request(
                "POST",
                "/auth/v1/admin/users",
                {"email": stack.email, "password": TEST_PASSWORD, "email_confirm": True},
            )
            assert created.status_code == 200, created.text
            yield stack
        finally:
            gateway_process.stop(settings)


def _warm_up(stack: OwnStack) -> None:
    """Every worker's pools and listener hold connections."""
    for _ in range(4):
        assert stack.read_probe().status_code == 200
        assert stack.sign_in().status_code == 200


def _assert_postgrest_503(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["code"] in ("PGRST000", "PGRST001")  # could not connect / connection lost
    assert "Retrying the connection" in body["message"]
    assert elapsed < 5  # answered, not left to hang until a pool timeout


def test_requests_after_the_gateways_connections_were_terminated_succeed(
    own_stack: OwnStack,
) -> None:
    _warm_up(own_stack)
    assert own_stack.terminate_gateway_backends() > 0

    reads = [own_stack.read_probe() for _ in range(6)]
    assert [r.status_code for r in reads] == [200] * 6
    assert reads[0].json()[0] == {"note": "before"}
    signed_in = own_stack.sign_in()
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["access_token"]

    own_stack.terminate_gateway_backends()
    note = f"written-once-{uuid.uuid4().hex[:8]}"
    written = own_stack.request("POST", "/rest/v1/restart_probe", {"note": note})
    assert written.status_code == 201, written.text
    with own_stack.admin() as conn:
        (rows,) = conn.execute(
            "select count(*) from public.restart_probe where note = %s", (note,)
        ).fetchone()  # type: ignore[misc]
    assert rows == 1  # a replaced connection never runs a write twice


def test_a_stopped_database_answers_503_at_once_and_a_restarted_one_serves_again(
    own_stack: OwnStack,
) -> None:
    _warm_up(own_stack)
    assert carebase("db", "stop", env=own_stack.env).returncode == 0
    try:
        for _ in range(3):
            started = time.monotonic()
            response = own_stack.read_probe()
            _assert_postgrest_503(response, time.monotonic() - started)
        started = time.monotonic()
        refused = own_stack.sign_in()
        assert refused.status_code == 503, refused.text
        assert refused.json()["error_code"] == "unexpected_failure"
        assert time.monotonic() - started < 5
    finally:
        assert carebase("db", "start", env=own_stack.env).returncode == 0

    assert [own_stack.read_probe().status_code for _ in range(4)] == [200] * 4
    signed_in = own_stack.sign_in()
    assert signed_in.status_code == 200, signed_in.text


def test_ddl_missed_by_the_schema_listener_is_seen_once_it_reconnects(
    own_stack: OwnStack,
) -> None:
    """The DDL is made with the schema-change event trigger off (replica mode): its
    `NOTIFY pgrst` is never sent, as for DDL made while the listener was disconnected."""
    table = f"late_{uuid.uuid4().hex[:8]}"
    path = f"/rest/v1/{table}?select=id"
    _warm_up(own_stack)
    name = sql.Identifier("public", table)
    with own_stack.admin() as conn:
        conn.execute("set session_replication_role = replica")
        conn.execute(sql.SQL("create table {} (id int primary key)").format(name))
        conn.execute(sql.SQL("alter table {} enable row level security").format(name))
        conn.execute(sql.SQL("grant select on {} to service_role").format(name))
    unknown = own_stack.request("GET", path)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "PGRST205"

    own_stack.terminate_gateway_backends()
    deadline = time.monotonic() + 15
    # every worker's listener reconnects and reloads: a few requests in a row all see it
    while [own_stack.request("GET", path).status_code for _ in range(4)] != [200] * 4:
        assert time.monotonic() < deadline, "the schema cache was not reloaded"
        time.sleep(0.2)


def test_only_a_connection_lost_before_it_ran_anything_is_retryable(
    own_stack: OwnStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What decides a retry: a backend terminated before the first statement (its FATAL is
    the first answer) ran nothing; one lost after a completed statement may have written.
    The idle check is bypassed, as when the FATAL is still in flight."""
    monkeypatch.setattr(connections, "usable", lambda conn: True)
    settings = own_stack.settings

    def terminate(pid: int) -> None:
        with own_stack.admin() as conn:
            conn.execute("select pg_terminate_backend(%s, 5000)", (pid,))

    async def scenario() -> list[bool]:
        seen = []
        rest = ConnectionPool(settings.dsn("authenticator"), 2, kwargs={"prepare_threshold": None})
        conn = await rest.getconn()
        terminate(conn.info.backend_pid)
        request = [wire.Query(b"begin", prepare=False), wire.query(sql.SQL("select 1"))]
        with pytest.raises(ConnectionLost) as lost:
            await wire.exchange(conn, [*request, wire.Query(b"commit", prepare=False)])
        seen.append(lost.value.unexecuted)
        await rest.putconn(conn)

        auth = ConnectionPool(settings.dsn("supabase_auth_admin"), 2)
        with pytest.raises(ConnectionLost) as lost:
            async with auth.connection() as conn:
                terminate(conn.info.backend_pid)
                async with conn.transaction():
                    await conn.execute("select 1")
        seen.append(lost.value.unexecuted)
        with pytest.raises(ConnectionLost) as lost:
            async with auth.connection() as conn, conn.transaction():
                await conn.execute("select 1")
                terminate(conn.info.backend_pid)
                await conn.execute("select 2")
        seen.append(lost.value.unexecuted)
        await rest.close()
        await auth.close()
        return seen

    assert asyncio.run(scenario()) == [True, True, False]
