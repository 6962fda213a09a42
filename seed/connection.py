"""The generator's connections: patient with a database busy loading. devstack's connection
strings wait 5 s for a connection; a checkpoint during an `xl` load (35M status rows) kept a new
one waiting longer, and the load failed after 79 minutes."""

from __future__ import annotations

from typing import Any

import psycopg

CONNECT_TIMEOUT_SECONDS = 120


def connect(database_url: str, **options: Any) -> psycopg.Connection:
    return psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, **options)
