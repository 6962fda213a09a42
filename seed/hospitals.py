"""Hospitals, their pharmacies, and staff of every role with logins."""

from __future__ import annotations

import json

from seed import people
from seed.randomness import Randomness, timestamp
from seed.world import (
    STAFF_PASSWORD_HASH,
    STAFF_TOTP_SECRET,
    Doctor,
    Hospital,
    Staff,
    Table,
    World,
)

# (code, name, city, district, state, landline prefix)
HOSPITALS = [
    ("PTA", "Government Rajindra Hospital", "Patiala", "Patiala", "Punjab", "175"),
    ("LDH", "Civil Hospital Ludhiana", "Ludhiana", "Ludhiana", "Punjab", "161"),
    ("ASR", "Guru Nanak Dev Hospital", "Amritsar", "Amritsar", "Punjab", "183"),
    ("JUC", "Civil Hospital Jalandhar", "Jalandhar", "Jalandhar", "Punjab", "181"),
    ("BTI", "Civil Hospital Bathinda", "Bathinda", "Bathinda", "Punjab", "164"),
    ("MOH", "District Hospital Mohali", "Mohali", "Mohali", "Punjab", "172"),
    ("SGR", "Civil Hospital Sangrur", "Sangrur", "Sangrur", "Punjab", "167"),
    ("AMB", "Civil Hospital Ambala", "Ambala", "Ambala", "Haryana", "171"),
    ("CDG", "Government Multi Specialty Hospital", "Chandigarh", "Chandigarh", "Chandigarh", "172"),
    ("UNA", "Regional Hospital Una", "Una", "Una", "Himachal Pradesh", "1975"),
]
SPECIALTIES = [
    ("General Medicine", "MBBS, MD"),
    ("Paediatrics", "MBBS, DCH"),
    ("Cardiology", "MBBS, MD, DM"),
    ("Obstetrics and Gynaecology", "MBBS, MS"),
    ("Orthopaedics", "MBBS, MS (Ortho)"),
    ("Dermatology", "MBBS, MD"),
    ("ENT", "MBBS, MS (ENT)"),
    ("Ophthalmology", "MBBS, MS"),
    ("Endocrinology", "MBBS, MD, DM"),
    ("Reproductive Medicine", "MBBS, MS, DNB"),
]
COLORS = ["#2563EB", "#16A34A", "#DC2626", "#9333EA", "#EA580C", "#0891B2", "#CA8A04", "#DB2777"]
ROLES = ("hospital_admin", "front_desk", "cro", "nurse", "pharmacist", "doctor")


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "hospitals")
    size = world.size
    created = world.now - 400 * 86400
    hospitals, pharmacies = [], []
    for h in range(size.hospitals):
        code, name, city, district, state, landline = HOSPITALS[h]
        hospital = Hospital(rng.uuid(), code, f"{name} {city}", city, district, state)
        hospital.pharmacy_id = rng.uuid()
        world.hospitals.append(hospital)
        phone = f"+91{landline}{rng.randrange(10 ** (10 - len(landline))):0{10 - len(landline)}d}"
        hospitals.append(
            (
                hospital.id,
                code,
                hospital.name,
                "Hospital Road",
                city,
                state,
                phone,
                f"contact@{code.lower()}.carebase.test",
                timestamp(created),
            )
        )
        pharmacies.append(
            (
                hospital.pharmacy_id,
                hospital.id,
                f"{hospital.name} Pharmacy",
                f"PB-RLP-{rng.randrange(1000, 9999)}",
                phone[:-1] + str((int(phone[-1]) + 1) % 10),
                "Ground floor, OPD block",
                True,
                timestamp(created),
            )
        )

    # Profiles come from auth.users' own trigger (private.sync_profile_from_auth_user).
    users, identities, factors, memberships, doctors, pharmacists = ([] for _ in range(6))
    counts = {
        "hospital_admin": size.admins,
        "front_desk": size.front_desk,
        "cro": size.cros,
        "nurse": size.nurses,
        "pharmacist": size.pharmacists,
        "doctor": size.doctors_per_hospital,
    }
    for h, hospital in enumerate(world.hospitals):
        for role in ROLES:
            for k in range(1, counts[role] + 1):
                user_id = rng.uuid()
                sex = rng.choice(("male", "female"))
                name = people.person_name(rng, sex).latin
                if role == "doctor":
                    name = f"Dr. {name}"
                email = f"{role.replace('_', '-')}{k}@{hospital.code.lower()}.carebase.test"
                world.staff.append(Staff(user_id, h, role, name, email))
                joined = timestamp(created + rng.randrange(0, 30 * 86400))
                users.append(
                    (
                        "00000000-0000-0000-0000-000000000000",
                        user_id,
                        "authenticated",
                        "authenticated",
                        email,
                        STAFF_PASSWORD_HASH,
                        joined,
                        '{"provider": "email", "providers": ["email"]}',
                        json.dumps({"full_name": name}),
                        joined,
                        joined,
                        "",
                        "",
                        "",
                        "",
                    )
                )
                identities.append(
                    (
                        rng.uuid(),
                        user_id,
                        user_id,
                        json.dumps({"sub": user_id, "email": email, "email_verified": True}),
                        "email",
                        joined,
                        joined,
                    )
                )
                factors.append(
                    (
                        rng.uuid(),
                        user_id,
                        "Demo authenticator",
                        "totp",
                        "verified",
                        joined,
                        joined,
                        STAFF_TOTP_SECRET,
                    )
                )
                memberships.append((rng.uuid(), user_id, hospital.id, role, joined, joined))
                if role == "doctor":
                    modes = rng.choice(
                        ("{video,audio,in_person}", "{video,in_person}", "{in_person}")
                    )
                    doctor = Doctor(rng.uuid(), user_id, h, modes)
                    world.doctors.append(doctor)
                    specialty, qualification = SPECIALTIES[(k - 1) % len(SPECIALTIES)]
                    doctors.append(
                        (
                            doctor.id,
                            user_id,
                            hospital.id,
                            specialty,
                            qualification,
                            f"PMC-{rng.randrange(10000, 99999)}-{k}",
                            "Punjab Medical Council",
                            rng.choice(COLORS),
                            modes,
                            rng.choice(("{pa,hi,en}", "{hi,en}", "{pa,en}")),
                            joined,
                            joined,
                        )
                    )
                elif role == "pharmacist":
                    pharmacists.append(
                        (
                            rng.uuid(),
                            user_id,
                            hospital.id,
                            hospital.pharmacy_id,
                            f"PSPC-{rng.randrange(10000, 99999)}-{k}",
                            joined,
                            joined,
                        )
                    )
    return [
        Table(
            "public.hospitals",
            ["id", "code", "name", "address", "city", "state", "phone", "email", "created_at"],
            hospitals,
        ),
        Table(
            "public.pharmacies",
            [
                "id",
                "hospital_id",
                "name",
                "licence_number",
                "phone",
                "address",
                "is_default",
                "created_at",
            ],
            pharmacies,
        ),
        Table(
            "auth.users",
            [
                "instance_id",
                "id",
                "aud",
                "role",
                "email",
                "encrypted_password",
                "email_confirmed_at",
                "raw_app_meta_data",
                "raw_user_meta_data",
                "created_at",
                "updated_at",
                "confirmation_token",
                "recovery_token",
                "email_change_token_new",
                "email_change",
            ],
            users,
        ),
        Table(
            "auth.identities",
            [
                "id",
                "provider_id",
                "user_id",
                "identity_data",
                "provider",
                "created_at",
                "updated_at",
            ],
            identities,
        ),
        Table(
            "auth.mfa_factors",
            [
                "id",
                "user_id",
                "friendly_name",
                "factor_type",
                "status",
                "created_at",
                "updated_at",
                "secret",
            ],
            factors,
        ),
        Table(
            "public.staff_memberships",
            ["id", "user_id", "hospital_id", "role", "created_at", "updated_at"],
            memberships,
        ),
        Table(
            "public.doctors",
            [
                "id",
                "user_id",
                "hospital_id",
                "specialty",
                "qualification",
                "licence_number",
                "licence_council",
                "calendar_color",
                "consultation_modes",
                "languages",
                "created_at",
                "updated_at",
            ],
            doctors,
        ),
        Table(
            "public.pharmacists",
            [
                "id",
                "user_id",
                "hospital_id",
                "pharmacy_id",
                "licence_number",
                "created_at",
                "updated_at",
            ],
            pharmacists,
        ),
    ]
