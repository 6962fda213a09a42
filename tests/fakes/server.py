"""The fakes' name for devstack.local_server (an ASGI app served in a background thread),
which `carebase eval copilot` uses too: devstack imports nothing from tests/."""

from devstack.local_server import LocalServer

__all__ = ["LocalServer"]
