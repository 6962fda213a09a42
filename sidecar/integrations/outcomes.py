"""How a channel adapter reports a failed send: retry later, or never."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """A send that did not go out. `permanent`: retrying the same message cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def transient(message: str) -> DeliveryFailed:
    return DeliveryFailed(message, permanent=False)


def permanent(message: str) -> DeliveryFailed:
    return DeliveryFailed(message, permanent=True)
