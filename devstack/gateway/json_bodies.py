"""JSON request bodies, parsed for /rest/v1 and /auth/v1 with a bound on nesting.

Nobody sends JSON nested 65 levels deep, but an attacker can send 100,000: Python's parser
gives up with a RecursionError (a 500 when nothing catches it), and what it does parse may
still be too deep for whatever recurses over it later (encoders, JWT libraries, Postgres's
jsonb parser). Bodies nested deeper than MAX_DEPTH are refused before they are parsed.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64

# A JSON string (brackets inside it are text), and every byte but the four brackets.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = [0] * 256  # how an opening or closing bracket changes the nesting level
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


class TooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep")


def too_deep(raw: bytes) -> bool:
    """Whether the arrays and objects of `raw` nest more than MAX_DEPTH levels deep."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


def loads(raw: bytes) -> Any:
    """json.loads, but TooDeep (a ValueError) past MAX_DEPTH levels; ValueError when invalid."""
    if too_deep(raw):
        raise TooDeep()
    return json.loads(raw)
