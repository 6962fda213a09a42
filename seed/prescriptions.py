"""Prescriptions through their whole workflow: issued, approved or denied, prepared, picked up
(dispensed), cancelled or expired. Item contents and notes are encrypted by the loader."""

from __future__ import annotations

import json

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

# (medicine, strength, dosage, frequency, duration, quantity)
MEDICINES = [
    ("Paracetamol", "500 mg", "1 tablet", "three times a day", "5 days", 15),
    ("Amoxicillin", "500 mg", "1 capsule", "three times a day", "7 days", 21),
    ("Metformin", "500 mg", "1 tablet", "twice a day", "30 days", 60),
    ("Amlodipine", "5 mg", "1 tablet", "once a day", "30 days", 30),
    ("Telmisartan", "40 mg", "1 tablet", "once a day", "30 days", 30),
    ("Atorvastatin", "10 mg", "1 tablet", "at night", "30 days", 30),
    ("Pantoprazole", "40 mg", "1 tablet", "before breakfast", "14 days", 14),
    ("Cetirizine", "10 mg", "1 tablet", "at night", "5 days", 5),
    ("Levothyroxine", "50 mcg", "1 tablet", "empty stomach", "30 days", 30),
    ("ORS", "21 g", "1 sachet in 1 litre water", "as needed", "3 days", 6),
    ("Iron and folic acid", "100 mg", "1 tablet", "once a day", "90 days", 90),
    ("Azithromycin", "500 mg", "1 tablet", "once a day", "3 days", 3),
]
DENY_REASONS = [
    "medicine out of stock",
    "dose needs the doctor's confirmation",
    "duplicate prescription",
]
CANCEL_REASONS = ["changed the treatment", "issued for the wrong patient", "patient allergic"]


def _status(rng: Randomness, issued: float, now: float) -> tuple[str, list[str]]:
    """The final status and the path to it."""
    age_days = (now - issued) / 86400
    if age_days > 30:
        final = rng.choices(("completed", "expired", "denied", "cancelled"), (78, 12, 5, 5))[0]
    elif age_days > 28:
        # Closed, so no open prescription lapses minutes after the load (the expiry job would
        # flip it while a test or a demo is looking).
        final = rng.choices(("completed", "denied", "cancelled"), (90, 5, 5))[0]
    elif age_days > 3:
        final = rng.choices(
            ("completed", "ready_for_pickup", "approved", "denied", "cancelled"), (70, 12, 8, 5, 5)
        )[0]
    else:
        final = rng.choices(
            ("pending", "approved", "ready_for_pickup", "completed"), (45, 20, 15, 20)
        )[0]
    path = {
        "pending": ["pending"],
        "approved": ["pending", "approved"],
        "ready_for_pickup": ["pending", "approved", "ready_for_pickup"],
        "completed": ["pending", "approved", "ready_for_pickup", "completed"],
        "denied": ["pending", "denied"],
        "cancelled": ["pending", "cancelled"],
    }.get(final)
    if path is None:  # expired from where it stood
        path = rng.choice(
            (["pending"], ["pending", "approved"], ["pending", "approved", "ready_for_pickup"])
        )
        path = [*path, "expired"]
    return final, path


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "prescriptions")
    prescriptions, items, dispensings, history = [], [], [], []
    used_codes: set[str] = set()
    pharmacists = {
        h: [s.user_id for s in world.staff_of(h, "pharmacist")] for h in range(len(world.hospitals))
    }

    for visit in world.visits:
        if not visit.finished or not rng.chance(world.size.prescription_share):
            continue
        hospital = world.hospitals[visit.hospital]
        doctor = world.doctors[visit.doctor]
        patient = world.patients[visit.patient]
        issued = visit.ends_at - rng.randrange(60, 300)
        final, path = _status(rng, issued, world.now)
        while True:
            code = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
            if code not in used_codes:
                used_codes.add(code)
                break
        prescription_id = rng.uuid()
        # Each step a few hours after the one before; the last is when the status changed.
        times = [issued]
        for _ in path[1:]:
            times.append(times[-1] + rng.randrange(1800, 8 * 3600))
        times = [min(t, world.now - 60 - (len(path) - 1 - i)) for i, t in enumerate(times)]
        reason = (
            rng.choice(DENY_REASONS)
            if final == "denied"
            else rng.choice(CANCEL_REASONS)
            if final == "cancelled"
            else None
        )
        notes = json.dumps({"notes": "take after food"}) if rng.chance(0.1) else None
        prescriptions.append(
            (
                prescription_id,
                hospital.id,
                patient.id,
                doctor.id,
                visit.appointment_id,
                hospital.pharmacy_id,
                final,
                reason,
                timestamp(times[-1]),
                code,
                notes,
                timestamp(issued),
                timestamp(issued + 30 * 86400),
                timestamp(issued),
                timestamp(times[-1]),
            )
        )
        pharmacist = rng.choice(pharmacists[visit.hospital])
        for n, (from_state, to_state) in enumerate(zip([None, *path[:-1]], path, strict=True)):
            role = (
                "doctor"
                if to_state in ("pending", "cancelled")
                else None
                if to_state == "expired"
                else "pharmacist"
            )
            actor = doctor.user_id if role == "doctor" else pharmacist if role else None
            history.append(
                (
                    rng.uuid(),
                    "prescription",
                    prescription_id,
                    hospital.id,
                    from_state,
                    to_state,
                    actor,
                    role,
                    reason if to_state in ("denied", "cancelled") else None,
                    timestamp(times[n]),
                )
            )
        for line in range(1, rng.choice((1, 1, 2, 2, 3)) + 1):
            medicine, strength, dosage, frequency, duration, quantity = rng.choice(MEDICINES)
            item_id = rng.uuid()
            details = json.dumps(
                {
                    "medicine": medicine,
                    "strength": strength,
                    "dosage": dosage,
                    "frequency": frequency,
                    "duration": duration,
                }
            )
            dispensed = 0
            if final == "completed":
                dispensed = quantity
            elif (
                final in ("ready_for_pickup", "expired")
                and "ready_for_pickup" in path
                and rng.chance(0.3)
            ):
                dispensed = quantity // 2 or quantity
            if dispensed:
                dispensings.append(
                    (rng.uuid(), item_id, dispensed, pharmacist, timestamp(times[-1]))
                )
            items.append((item_id, prescription_id, line, details, quantity, dispensed))
    return [
        Table(
            "public.prescriptions",
            [
                "id",
                "hospital_id",
                "patient_id",
                "doctor_id",
                "appointment_id",
                "pharmacy_id",
                "status",
                "status_reason",
                "status_changed_at",
                "verification_code",
                "notes",
                "issued_at",
                "valid_until",
                "created_at",
                "updated_at",
            ],
            prescriptions,
            encrypted=("notes",),
        ),
        Table(
            "public.prescription_items",
            [
                "id",
                "prescription_id",
                "line_no",
                "details",
                "quantity",
                "dispensed_quantity",
            ],
            items,
            encrypted=("details",),
        ),
        Table(
            "public.prescription_dispensings",
            [
                "id",
                "prescription_item_id",
                "quantity",
                "dispensed_by",
                "dispensed_at",
            ],
            dispensings,
        ),
        Table(
            "public.status_history",
            [
                "id",
                "machine",
                "subject_id",
                "hospital_id",
                "from_state",
                "to_state",
                "actor_id",
                "actor_role",
                "reason",
                "occurred_at",
            ],
            history,
        ),
    ]
