"""The tests' name for devstack.postgrest_session (acting as a user exactly as PostgREST does),
which `carebase eval copilot` uses too: devstack imports nothing from tests/."""

from devstack.postgrest_session import PostgrestSession

__all__ = ["PostgrestSession"]
