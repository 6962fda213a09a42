"""Doctors' working hours and their exceptions (days off, extra hours)."""

from __future__ import annotations

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

# Weekly patterns: (weekdays, sessions as (start hour, end hour)), in local time.
PATTERNS = [
    (range(1, 7), ((9, 13), (14, 17))),
    (range(1, 6), ((10, 14), (15, 18))),
    (range(1, 7), ((8, 12), (13, 16))),
    ((1, 2, 3, 4, 5, 6), ((9, 14),)),
]


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "schedules")
    size = world.size
    first_day = world.today.toordinal() - size.days_back
    last_day = world.today.toordinal() + size.days_ahead
    hours, exceptions = [], []
    valid_from = world.today.fromordinal(first_day - 30).isoformat()
    created = timestamp(world.now - (size.days_back + 30) * 86400)
    for doctor in world.doctors:
        hospital = world.hospitals[doctor.hospital]
        weekdays, sessions = rng.choice(PATTERNS)
        slot = rng.choice((15, 15, 15, 30))
        for weekday in weekdays:
            for start, end in sessions:
                doctor.hours.append((weekday, start * 60, end * 60, slot))
                hours.append(
                    (
                        rng.uuid(),
                        doctor.id,
                        hospital.id,
                        weekday,
                        f"{start:02d}:00",
                        f"{end:02d}:00",
                        doctor.modes,
                        slot,
                        valid_from,
                        created,
                        created,
                    )
                )
        admin = world.staff_of(doctor.hospital, "hospital_admin")[0].user_id
        for day in range(first_day, last_day + 1):
            if rng.chance(1 / 30):
                doctor.time_off.add(day)
                midnight = world.local_midnight(day)
                exceptions.append(
                    (
                        rng.uuid(),
                        doctor.id,
                        hospital.id,
                        "time_off",
                        timestamp(midnight),
                        timestamp(midnight + 86400),
                        doctor.modes,
                        15,
                        rng.choice(("leave", "conference", "training", "personal")),
                        admin,
                        timestamp(midnight - 14 * 86400),
                        timestamp(midnight - 14 * 86400),
                    )
                )
            elif rng.chance(1 / 60) and world.today.fromordinal(day).isoweekday() == 7:
                # A Sunday camp: extra hours in the morning.
                midnight = world.local_midnight(day)
                exceptions.append(
                    (
                        rng.uuid(),
                        doctor.id,
                        hospital.id,
                        "extra_hours",
                        timestamp(midnight + 10 * 3600),
                        timestamp(midnight + 13 * 3600),
                        doctor.modes,
                        slot,
                        "health camp",
                        admin,
                        timestamp(midnight - 14 * 86400),
                        timestamp(midnight - 14 * 86400),
                    )
                )
    return [
        Table(
            "public.doctor_working_hours",
            [
                "id",
                "doctor_id",
                "hospital_id",
                "weekday",
                "starts_at",
                "ends_at",
                "consultation_modes",
                "slot_minutes",
                "valid_from",
                "created_at",
                "updated_at",
            ],
            hours,
        ),
        Table(
            "public.doctor_availability_exceptions",
            [
                "id",
                "doctor_id",
                "hospital_id",
                "kind",
                "starts_at",
                "ends_at",
                "consultation_modes",
                "slot_minutes",
                "reason",
                "created_by",
                "created_at",
                "updated_at",
            ],
            exceptions,
        ),
    ]
