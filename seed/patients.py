"""Patients (families sharing a surname and often a phone) and their hospital registrations."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from seed import people
from seed.randomness import Randomness, timestamp
from seed.world import Patient, Table, World

BLOOD_GROUPS = ["O+", "B+", "A+", "AB+", "O-", "B-", "A-", "AB-"]
BLOOD_WEIGHTS = [37, 32, 22, 7, 1, 1, 0.5, 0.5]
# Share of phone holders who use the app: they sign in by phone OTP, so one account a phone.
APP_SHARE = 0.4


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "patients")
    # Its own stream: the duplicates leave every other generated row as it was.
    twins = Randomness(world.seed, "duplicate records")
    size = world.size
    today = world.today.toordinal()
    start = world.now - (size.days_back + 365) * 86400
    span = world.now - start
    # Most patients were registered before the generated appointments begin.
    registered = sorted(
        start + (rng.random() if rng.chance(0.25) else rng.random() * 0.5) * span
        for _ in range(size.patients)
    )
    hospital_doctors = {
        h: [i for i, d in enumerate(world.doctors) if d.hospital == h]
        for h in range(size.hospitals)
    }
    patients, registrations, profiles, users, identities = [], [], [], [], []
    account_phones: set[str] = set()
    counters: dict[tuple[int, int], int] = {}
    family_left, family_surname, family_phone, family_place = 0, None, None, None
    for n in range(size.patients):
        if family_left == 0:
            family_left = rng.choice((1, 1, 2, 2, 3, 4, 5))
            family_surname = people.family_surname(rng)
            family_phone = people.mobile(rng)
            family_place = rng.choice(people.PLACES)
        family_left -= 1
        district, state, town, pin = family_place
        sex = rng.choices(("female", "male", "other"), (49, 49, 2))[0]
        surname = family_surname if rng.chance(0.6) else None
        name = people.person_name(rng, "male" if sex == "male" else "female", surname)
        script = people.script_for(rng, state)
        full_name = name.in_script(script)
        dob = people.date_of_birth(rng, today)
        # Children and many elders use the family's phone; others have their own.
        age = (today - dob) / 365.25
        phone = family_phone if age < 16 or age > 70 or rng.chance(0.3) else people.mobile(rng)
        contact_sex = rng.choice(("male", "female"))
        contact = people.person_name(rng, contact_sex, family_surname).in_script(script)
        home = rng.randrange(size.hospitals)
        hospitals = [home]
        if size.hospitals > 1 and rng.chance(size.second_registration_share):
            hospitals.append((home + 1 + rng.randrange(size.hospitals - 1)) % size.hospitals)
        patient = Patient(rng.uuid(), full_name, phone, hospitals, registered[n])
        world.patients.append(patient)
        at = timestamp(patient.registered_at)
        user_id = None
        if 16 <= age <= 70 and phone not in account_phones and rng.chance(APP_SHARE):
            account_phones.add(phone)
            user_id = rng.uuid()
            users.append(_phone_user(user_id, phone, full_name, at))
            identities.append(
                (
                    rng.uuid(),
                    user_id,
                    user_id,
                    json.dumps({"sub": user_id, "phone": phone.lstrip("+")}),
                    "phone",
                    at,
                    at,
                )
            )
        patients.append(
            (
                patient.id,
                user_id,
                full_name,
                date.fromordinal(dob).isoformat(),
                sex,
                phone,
                people.language_for(script, rng),
                f"House {rng.randrange(1, 999)}, Ward {rng.randrange(1, 30)}",
                town,
                district,
                state,
                f"{pin}{rng.randrange(10, 99)}",
                contact,
                family_phone,
                rng.choice(people.RELATIONS),
                at,
                at,
            )
        )
        for h in hospitals:
            hospital = world.hospitals[h]
            hospital.patients.append(n)
            patient.primary_doctor[h] = rng.choice(hospital_doctors[h])
            year = datetime.fromtimestamp(patient.registered_at, UTC).year
            counters[(h, year)] = counters.get((h, year), 0) + 1
            front_desk = rng.choice(world.staff_of(h, "front_desk")).user_id
            registrations.append(
                (
                    rng.uuid(),
                    patient.id,
                    hospital.id,
                    f"{hospital.code}-{year}-{counters[(h, year)]:06d}",
                    at,
                    front_desk,
                    rng.choice(("walk_in", "walk_in", "referral", "camp", "website", None)),
                    at,
                )
            )
            if rng.chance(0.6):
                blood = rng.choices(BLOOD_GROUPS, BLOOD_WEIGHTS)[0]
                profiles.append((rng.uuid(), patient.id, hospital.id, blood, front_desk, at, at))
        if twins.chance(size.duplicate_share):
            # Registered again at the home hospital, later, without the app login.
            again = timestamp(
                min(patient.registered_at + twins.randrange(1, 365) * 86400, world.now)
            )
            twin = (
                twins.uuid(),
                None,
                people.written_again(twins, name, script),
                *patients[-1][3:15],
            )
            patients.append((*twin, again, again))
            year = int(again[:4])
            counters[(home, year)] = counters.get((home, year), 0) + 1
            hospital = world.hospitals[home]
            registrations.append(
                (
                    twins.uuid(),
                    twin[0],
                    hospital.id,
                    f"{hospital.code}-{year}-{counters[(home, year)]:06d}",
                    again,
                    twins.choice(world.staff_of(home, "front_desk")).user_id,
                    "walk_in",
                    again,
                )
            )
    return [
        Table("auth.users", USER_COLUMNS, users),
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
            "public.patients",
            [
                "id",
                "user_id",
                "full_name",
                "date_of_birth",
                "sex",
                "phone",
                "preferred_language",
                "address_line",
                "city",
                "district",
                "state",
                "postal_code",
                "emergency_contact_name",
                "emergency_contact_phone",
                "emergency_contact_relation",
                "created_at",
                "updated_at",
            ],
            patients,
        ),
        Table(
            "public.patient_registrations",
            [
                "id",
                "patient_id",
                "hospital_id",
                "mrn",
                "registered_at",
                "registered_by",
                "referral_source",
                "updated_at",
            ],
            registrations,
        ),
        Table(
            "public.medical_profiles",
            [
                "id",
                "patient_id",
                "hospital_id",
                "blood_group",
                "updated_by",
                "created_at",
                "updated_at",
            ],
            profiles,
        ),
    ]


USER_COLUMNS = [
    "instance_id",
    "id",
    "aud",
    "role",
    "phone",
    "phone_confirmed_at",
    "raw_app_meta_data",
    "raw_user_meta_data",
    "created_at",
    "updated_at",
]


def _phone_user(user_id: str, phone: str, full_name: str, at: str) -> tuple:
    """An app user who signed in by phone OTP (auth stores the phone without its '+')."""
    return (
        "00000000-0000-0000-0000-000000000000",
        user_id,
        "authenticated",
        "authenticated",
        phone.lstrip("+"),
        at,
        '{"provider": "phone", "providers": ["phone"]}',
        json.dumps({"full_name": full_name}),
        at,
        at,
    )


# The review queue, as the registration trigger (private.queue_possible_duplicates) would have
# filled it: the records of one person registered twice at a hospital. Only pairs sharing the
# phone and birth date are looked for (the trigger also matches on email and the nearest
# names; with triggers off, comparing every registration that way would take hours), grouped
# first (plain indexes are set aside during the load: a join on phone would have none), then
# scored by the database's own private.duplicate_score. The primary keys and the
# one-registration-a-hospital key stay.
DERIVED = [
    """
    insert into public.patient_duplicate_pairs
        (hospital_id, patient_id, other_patient_id, score, parts, detected_at)
    select distinct on (a.id, b.id)
        ra.hospital_id, a.id, b.id, s.score, s.parts, greatest(ra.registered_at, rb.registered_at)
    from (
        select array_agg(p.id order by p.id) as ids
        from public.patients as p
        where p.phone is not null and p.date_of_birth is not null
        group by p.phone, p.date_of_birth
        having count(*) > 1
    ) as same
    cross join lateral unnest(same.ids) with ordinality as x (id, i)
    cross join lateral unnest(same.ids) with ordinality as y (id, j)
    join public.patients as a on a.id = x.id
    join public.patients as b on b.id = y.id
    join public.patient_registrations as ra on ra.patient_id = a.id and ra.deleted_at is null
    join public.patient_registrations as rb
        on rb.patient_id = b.id and rb.hospital_id = ra.hospital_id and rb.deleted_at is null
    cross join lateral private.duplicate_score(a, b) as s
    where x.i < y.j
        and ra.hospital_id = any(%(hospitals)s)
        and extensions.similarity(a.name_key, b.name_key) >= 0.5
        and s.score >= private.duplicate_threshold()
    order by a.id, b.id, ra.registered_at
    """,
]
