"""supabase/schema.sql is the schema the migrations build today, so it can be read and reviewed."""

from __future__ import annotations

import difflib

from devstack import schema_snapshot
from devstack.config import Settings
from tests.conftest import ScratchDatabase


def test_the_committed_schema_snapshot_is_what_the_migrations_build(
    stack: Settings, migrated_db: ScratchDatabase
) -> None:
    committed = schema_snapshot.snapshot_file(stack).read_text()
    built = schema_snapshot.render(stack, migrated_db.name)
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            built.splitlines(keepends=True),
            "supabase/schema.sql (committed)",
            "what the migrations build",
            n=2,
        )
    )
    assert not diff, f"supabase/schema.sql is stale: run `carebase db schema`\n{diff[:6000]}"


def test_the_snapshot_holds_the_current_body_of_a_function_redefined_later(
    stack: Settings,
) -> None:
    """The reason it exists: a reader finds what book_appointment does in one place."""
    text = schema_snapshot.snapshot_file(stack).read_text()
    assert text.count("CREATE FUNCTION public.book_appointment(") == 1
    assert "CREATE POLICY" in text and "ENABLE ROW LEVEL SECURITY" in text
    assert "ON auth.users" in text, "triggers on the platform's tables are included"
