"""The `Prefer` header: what a request asks for, what was applied, and `handling=strict`."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Preferences:
    return_: str | None = None
    count: str | None = None
    resolution: str | None = None
    missing: str | None = None
    handling: str | None = None
    tx: str | None = None
    max_affected: int | None = None
    invalid: tuple[str, ...] = ()

    @property
    def strict(self) -> bool:
        return self.handling == "strict"

    @property
    def representation(self) -> bool:
        return self.return_ == "representation"


def parse(values: list[str]) -> Preferences:
    """All Prefer headers, in order. As in PostgREST, the first occurrence of a preference
    counts, within one header or across several."""
    chosen: dict[str, object] = {}
    invalid: list[str] = []
    for header in values:
        for item in header.split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if name in _CHOICES and value in _CHOICES[name]:
                chosen.setdefault("return_" if name == "return" else name, value)
            elif name == "max-affected" and value.isdigit():
                chosen.setdefault("max_affected", int(value))
            elif name in ("timezone", "params"):
                continue  # known to PostgREST; not applied here (never reported as applied)
            else:
                invalid.append(item)
    return Preferences(**chosen, invalid=tuple(invalid))


def refuse_invalid(prefs: Preferences) -> None:
    """handling=strict refuses a request with preferences PostgREST does not know."""
    if prefs.strict and prefs.invalid:
        raise invalid_preferences(list(prefs.invalid))


def applied(prefs: Preferences) -> list[str]:
    """The preferences a mutation reports as applied (Preference-Applied)."""
    names = []
    if prefs.return_:
        names.append(f"return={prefs.return_}")
    if prefs.count:
        names.append(f"count={prefs.count}")
    if prefs.handling:
        names.append(f"handling={prefs.handling}")
    if prefs.max_affected is not None and prefs.strict:
        names.append(f"max-affected={prefs.max_affected}")
    return names
