"""Fixtures: the local stack brought up once per run, and sessions acting as any user."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from devstack import cli, migrate, services
from devstack.config import Settings
from devstack.gateway import process as gateway_process
from devstack.gateway.tokens import issue
from devstack.migrate import apply_platform, migrated_scratch_database
from devstack.postgrest_session import PostgrestSession


@pytest.fixture(scope="session")
def stack() -> Settings:
    """The running, migrated database (started and seeded when new), as `make up` leaves it."""
    settings = Settings.from_env()
    cli.up(settings)
    return settings


@pytest.fixture(scope="session")
def gateway(stack: Settings) -> Iterator[str]:
    """The API gateway on :54321 (started for the run unless `make up` already runs it)."""
    started = gateway_process.start(stack)
    yield stack.api_url
    if started:
        gateway_process.stop(stack)


@pytest.fixture(scope="session")
def sidecar(gateway: str, stack: Settings) -> Iterator[str]:
    """The sidecar's base URL (started for the run unless `make up` already runs it)."""
    service = services.sidecar(stack)
    started = service.start()
    yield stack.sidecar_url
    if started:
        service.stop()


@pytest.fixture
def db(stack: Settings) -> Iterator[psycopg.Connection]:
    """A connection as `postgres` whose work is rolled back after the test."""
    with psycopg.connect(stack.dsn()) as conn:
        yield conn
        conn.rollback()


@pytest.fixture
def as_user(db: psycopg.Connection) -> PostgrestSession:
    """Runs statements as a user, the way PostgREST runs a request (see PostgrestSession)."""
    return PostgrestSession(db)


@dataclass(frozen=True)
class ScratchDatabase:
    name: str
    settings: Settings

    def dsn(self, user: str = "postgres") -> str:
        return self.settings.dsn(user, dbname=self.name)


@contextlib.contextmanager
def scratch_database(settings: Settings) -> Iterator[ScratchDatabase]:
    """An empty database in the local cluster, dropped afterwards."""
    with migrate.scratch_database(settings) as name:
        yield ScratchDatabase(name, settings)


@pytest.fixture
def scratch_db(stack: Settings) -> Iterator[ScratchDatabase]:
    with scratch_database(stack) as scratch:
        yield scratch


# Templates built once per run and never connected to afterwards: a test that needs a database
# of its own gets a copy (`create database ... template`, a file copy of well under a second,
# against seconds to apply the shim or the migrations again).
@pytest.fixture(scope="session")
def shimmed_template(stack: Settings) -> Iterator[str]:
    """A database with the platform shim applied and no migration."""
    with migrate.scratch_database(stack) as name:
        apply_platform(
            stack.dsn(stack.admin_user, dbname=name), stack.platform_dir, stack.db_password
        )
        yield name


@pytest.fixture(scope="session")
def migrated_template(stack: Settings) -> Iterator[str]:
    """A database built from the shim and the migrations alone (no seed)."""
    with migrated_scratch_database(stack) as name:
        yield name


@contextlib.contextmanager
def copy_of(settings: Settings, template: str) -> Iterator[ScratchDatabase]:
    """A scratch database copied from one of the templates above, dropped afterwards."""
    with migrate.scratch_database(settings, template) as name:
        yield ScratchDatabase(name, settings)


@pytest.fixture(scope="session")
def migrated_db(stack: Settings, migrated_template: str) -> Iterator[ScratchDatabase]:
    """A database built from the migrations alone (no seed, no objects other tests create),
    for the tests that read its catalog; a test that changes it rolls back."""
    with copy_of(stack, migrated_template) as scratch:
        yield scratch


@pytest.fixture
def migrated_copy(stack: Settings, migrated_template: str) -> Iterator[ScratchDatabase]:
    """A migrated database of the test's own, to change at will."""
    with copy_of(stack, migrated_template) as scratch:
        yield scratch


@pytest.fixture
def platform_db(stack: Settings, shimmed_template: str) -> Iterator[ScratchDatabase]:
    """A scratch database with the platform shim applied and no migration."""
    with copy_of(stack, shimmed_template) as scratch:
        yield scratch


# The demo hospital's Dr. Sandhu (supabase/seed.sql), booked by its front desk.
DEMO_DOCTOR = "30000000-0000-4000-8000-000000000001"
DEMO_FRONT_DESK = "frontdesk@nabha.carebase.test"


@pytest.fixture
def book(gateway: str, stack: Settings) -> Iterator[Callable[[str], Awaitable[str]]]:
    """`await book(patient_id)`: books the demo doctor through REST as the front desk, each
    booking an hour after the last from a random hour of 2040 (runs never meet); returns the
    appointment's id, and removes what it booked afterwards."""
    with psycopg.connect(stack.dsn()) as conn:
        claims = PostgrestSession(conn).claims_for(DEMO_FRONT_DESK)
    headers = {
        "apikey": stack.anon_key,
        "Authorization": f"Bearer {issue(claims, stack.jwt_secret)}",
    }
    first = datetime(2040, 1, 2, tzinfo=UTC) + timedelta(hours=random.randrange(24 * 300))  # noqa: S311
    made: list[str] = []

    async def booked(patient: str) -> str:
        start = first + timedelta(hours=len(made))
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{gateway}/rest/v1/rpc/book_appointment",
                headers=headers,
                json={
                    "doctor_id": DEMO_DOCTOR,
                    "patient_id": patient,
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=30)).isoformat(),
                    "source": "front_desk",
                },
            )
        assert response.status_code == 200, response.text
        made.append(response.json()["id"])
        return made[-1]

    yield booked
    with psycopg.connect(stack.dsn(stack.admin_user), autocommit=True) as conn:
        ids = [uuid.UUID(i) for i in made]
        conn.execute("delete from private.outbox where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.status_history where subject_id = any(%s)", (ids,))
        conn.execute("delete from public.appointments where id = any(%s)", (ids,))
