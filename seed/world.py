"""What the domains share while they generate: the entities later domains refer to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from seed.sizes import Size

IST_OFFSET = 5.5 * 3600  # Asia/Kolkata, no daylight saving time

# Every generated staff login signs in with this password (and the demo TOTP secret below),
# as supabase/seed.sql's demo staff do. One bcrypt hash (cost 10, as GoTrue's) made once and
# reused: hashing per user would take ~80 ms each.
STAFF_PASSWORD = "Carebase#2026"  # noqa: S105 (documented demo password)
STAFF_PASSWORD_HASH = "$2a$10$U1q39IP4i7D/RRxtoveJHedEjT822QsF12bc5JbcxynVsn0UBSkpm"  # noqa: S105
STAFF_TOTP_SECRET = "CAREBASEDEMOSTAFFTOTPNABHA234567"  # noqa: S105


@dataclass
class Table:
    """Rows for one table, in column order. `encrypted` columns hold clear text that the loader
    passes through private.encrypt_field; rows may be a generator (made while loading)."""

    name: str
    columns: list[str]
    rows: Iterable[tuple]
    encrypted: tuple[str, ...] = ()


@dataclass
class Staff:
    user_id: str
    hospital: int
    role: str
    name: str
    email: str


@dataclass
class Doctor:
    id: str
    user_id: str
    hospital: int
    modes: str = "{in_person}"
    # (ISO weekday, start minute, end minute, slot minutes) in local time
    hours: list[tuple[int, int, int, int]] = field(default_factory=list)
    time_off: set[int] = field(default_factory=set)  # ordinal days off


@dataclass
class Hospital:
    id: str
    code: str
    name: str
    city: str
    district: str
    state: str
    pharmacy_id: str = ""
    patients: list[int] = field(default_factory=list)  # indexes into World.patients
    consent_documents: dict[str, str] = field(default_factory=dict)  # purpose -> id


@dataclass
class Patient:
    id: str
    full_name: str
    phone: str | None
    hospitals: list[int]
    registered_at: float
    primary_doctor: dict[int, int] = field(default_factory=dict)  # hospital -> doctor index


@dataclass
class Visit:
    """A completed (or running) appointment: what clinical records and prescriptions hang on."""

    appointment_id: str
    patient: int
    hospital: int
    doctor: int
    starts_at: float
    ends_at: float
    finished: bool


@dataclass
class World:
    seed: int
    size: Size
    today: date
    hospitals: list[Hospital] = field(default_factory=list)
    staff: list[Staff] = field(default_factory=list)
    doctors: list[Doctor] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    encounters: list[tuple[str, int]] = field(default_factory=list)  # (encounter id, visit index)
    # Journey instances other domains hang messages and tickets on: (id, patient, hospital).
    journey_instances: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def now(self) -> float:
        """The moment the data is made for: noon in India on `today` (fixed, so reruns agree)."""
        noon_utc = datetime(self.today.year, self.today.month, self.today.day, 6, 30, tzinfo=UTC)
        return noon_utc.timestamp()

    @property
    def now_timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def local_midnight(self, ordinal: int) -> float:
        """Epoch seconds of 00:00 in India on the given ordinal day."""
        d = date.fromordinal(ordinal)
        return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() - IST_OFFSET

    def staff_of(self, hospital: int, role: str) -> list[Staff]:
        return [s for s in self.staff if s.hospital == hospital and s.role == role]
