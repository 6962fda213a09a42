"""The `Prefer` header: what a request asks for, what was applied, and `handling=strict`."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.rest.errors import ApiError

_CHOICES = {
    "return": {"minimal", "representation", "headers-only"},
    "count": {"exact", "planned", "estimated"},
    "resolution": {"merge-duplicates", "ignore-duplicates"},
    "missing": {"default", "null"},
    "handling": {"strict", "lenient"},
    "tx": {"commit", "rollback"},
}


@dataclass
class Preferences:
    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    max_affected: int | None = None
    invalid: list[str] = field(default_factory=list)

    @property
    def strict(self) -> bool:
        return self.handling == "strict"


def parse(values: list[str]) -> Preferences:
    """All Prefer headers, in order. As in PostgREST, the first occurrence of a preference
    counts, within one header or across several."""
    prefs = Preferences()
    for header in values:
        for item in header.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if name in _CHOICES and value in _CHOICES[name]:
                attribute = "return_" if name == "return" else name
                if getattr(prefs, attribute) is None:
                    setattr(prefs, attribute, value)
            elif name == "max-affected" and value.isdigit():
                if prefs.max_affected is None:
                    prefs.max_affected = int(value)
            elif name in ("timezone", "params"):
                continue  # known to PostgREST; not applied here (never reported as applied)
            else:
                prefs.invalid.append(item)
    if prefs.strict and prefs.invalid:
        raise ApiError(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
            f"Invalid preferences: {', '.join(prefs.invalid)}",
        )
    return prefs
