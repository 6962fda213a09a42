"""How a client of a third party reports a failed call: retry later, or never.

`permanent`: retrying the same request cannot help. `code` is an optional machine-readable
reason a caller can act on (e.g. the Cal.com worker cancels the local appointment on
`slot_unavailable`); empty when the message is all there is to say.
"""

from __future__ import annotations


class DeliveryFailed(Exception):
    """A send that did not go out. `permanent`: retrying the same message cannot help."""

    def __init__(self, message: str, *, permanent: bool, code: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


def transient(message: str, code: str = "") -> DeliveryFailed:
    return DeliveryFailed(message, permanent=False, code=code)


def permanent(message: str, code: str = "") -> DeliveryFailed:
    return DeliveryFailed(message, permanent=True, code=code)
