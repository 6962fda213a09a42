"""The `Prefer` header: what a request asks for, what was applied, and `handling=strict`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from devstack.rest.errors import invalid_preferences

_CHOICES = {
    "return": {"minimal", "representation", "headers-only"},
    "count": {"exact", "planned", "estimated"},
    "resolution": {"merge-duplicates", "ignore-duplicates"},
    "missing": {"default", "null"},
    "handling": {"strict", "lenient"},
    "tx": {"commit", "rollback"},
}
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Preferences:
    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    timezone: str | None = None
    max_affected: int | None = None
    invalid: tuple[str, ...] = ()

    @property
    def strict(self) -> bool:
        return self.handling == "strict"

    @property
    def representation(self) -> bool:
        return self.return_ == "representation"


def parse(values: list[str], timezones: frozenset[str]) -> Preferences:
    """All Prefer headers, in order. As in PostgREST, the first occurrence of a preference
    counts, within one header or across several; `name=value` is matched exactly; a time
    zone counts when Postgres knows its name (`timezones`, from pg_timezone_names); any
    `max-affected=` is known, and applies when it is a number."""
    chosen: dict[str, object] = {}
    invalid: list[str] = []
    for header in values:
        for item in header.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            if name in _CHOICES and value in _CHOICES[name]:
                chosen.setdefault("return_" if name == "return" else name, value)
            elif name == "max-affected":
                if _INTEGER.fullmatch(value):
                    chosen.setdefault("max_affected", int(value))
            elif name == "timezone" and value in timezones:
                chosen.setdefault("timezone", value)
            else:
                invalid.append(item)  # params=single-object too: PostgREST v13 removed it
    return Preferences(**chosen, invalid=tuple(invalid))


def refuse_invalid(prefs: Preferences) -> None:
    """handling=strict refuses a request with preferences PostgREST does not know."""
    if prefs.strict and prefs.invalid:
        raise invalid_preferences(list(prefs.invalid))


# Preference-Applied lists what each action takes, in this order whatever the request's
# (tx, when db-tx-end allows it, is added by the transaction)
APPLIED_ORDER = (
    "resolution",
    "missing",
    "return",
    "count",
    "tx",
    "handling",
    "timezone",
    "max-affected",
)
READ = ("count", "handling", "timezone")
CALL = ("count", "handling", "timezone", "max-affected")
INSERT = ("resolution", "missing", "return", "count", "handling", "timezone")
UPDATE = ("missing", "return", "count", "handling", "timezone", "max-affected")
DELETE = ("return", "count", "handling", "timezone", "max-affected")
SINGLE_UPSERT = ("return", "count", "handling", "timezone")


def applied(prefs: Preferences, taken: tuple[str, ...]) -> list[str]:
    """Those of the `taken` preferences the request gave, as Preference-Applied names them
    (max-affected only under handling=strict)."""
    values = {
        "resolution": prefs.resolution,
        "missing": prefs.missing,
        "return": prefs.return_,
        "count": prefs.count,
        "handling": prefs.handling,
        "timezone": prefs.timezone,
        "max-affected": prefs.max_affected if prefs.strict else None,
    }
    return [f"{name}={values[name]}" for name in taken if values[name] is not None]
