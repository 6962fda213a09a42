"""Clinical records of the visits: encounters, vitals, ICD-10 diagnoses, lab results (some
critical) and SOAP notes (encrypted by the loader)."""

from __future__ import annotations

import json

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

# (ICD-10 code, description, chief complaint)
DIAGNOSES = [
    ("I10", "Essential (primary) hypertension", "headache and high blood pressure readings"),
    ("E11.9", "Type 2 diabetes mellitus without complications", "increased thirst and tiredness"),
    ("J06.9", "Acute upper respiratory infection, unspecified", "sore throat and cough"),
    ("A09", "Infectious gastroenteritis and colitis, unspecified", "loose stools for two days"),
    ("M54.50", "Low back pain, unspecified", "back pain after lifting"),
    ("E03.9", "Hypothyroidism, unspecified", "weight gain and tiredness"),
    ("D50.9", "Iron deficiency anaemia, unspecified", "weakness and breathlessness"),
    ("J45.909", "Unspecified asthma, uncomplicated", "wheezing at night"),
    ("K21.9", "Gastro-oesophageal reflux disease without oesophagitis", "burning in the chest"),
    ("L30.9", "Dermatitis, unspecified", "itchy rash on the arms"),
    ("N39.0", "Urinary tract infection, site not specified", "burning on passing urine"),
    ("B50.9", "Plasmodium falciparum malaria, unspecified", "fever with chills"),
    ("I25.10", "Atherosclerotic heart disease of native coronary artery", "chest pain on exertion"),
    ("O80", "Encounter for full-term uncomplicated delivery", "antenatal review"),
    ("N97.9", "Female infertility, unspecified", "trying to conceive for two years"),
    ("Z00.00", "General adult medical examination without abnormal findings", "routine check-up"),
]
# (test, unit, reference range, normal low, normal high, critical low, critical high)
LABS = [
    ("Haemoglobin", "g/dL", "12.0-16.0", 12.0, 16.0, 7.0, 20.0),
    ("Fasting blood glucose", "mg/dL", "70-100", 70, 100, 40, 400),
    ("HbA1c", "%", "4.0-5.6", 4.0, 5.6, 3.0, 14.0),
    ("Serum potassium", "mmol/L", "3.5-5.1", 3.5, 5.1, 2.5, 6.5),
    ("Serum creatinine", "mg/dL", "0.6-1.2", 0.6, 1.2, 0.3, 8.0),
    ("TSH", "mIU/L", "0.4-4.0", 0.4, 4.0, 0.01, 50.0),
    ("Platelet count", "10^3/uL", "150-400", 150, 400, 20, 1000),
    ("Troponin I", "ng/mL", "0.00-0.04", 0.0, 0.04, 0.0, 2.0),
]


def _lab_value(rng: Randomness, lab: tuple) -> tuple[str, str]:
    _, _, _, low, high, critical_low, critical_high = lab
    draw = rng.random()
    if draw < 0.03:
        value = rng.choice(
            (critical_low * rng.uniform(0.6, 0.95), critical_high * rng.uniform(1.05, 1.4))
        )
        status = "critical"
    elif draw < 0.25:
        value = rng.choice((low * rng.uniform(0.75, 0.98), high * rng.uniform(1.02, 1.5)))
        status = "abnormal"
    else:
        value = rng.uniform(low, high)
        status = "normal"
    return f"{value:.2f}", status


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "clinical")
    encounters, vitals, diagnoses, labs, notes = ([] for _ in range(5))
    nurses = {
        h: [s.user_id for s in world.staff_of(h, "nurse")] for h in range(len(world.hospitals))
    }
    for v, visit in enumerate(world.visits):
        hospital = world.hospitals[visit.hospital]
        patient = world.patients[visit.patient]
        doctor = world.doctors[visit.doctor]
        code, description, complaint = rng.choice(DIAGNOSES)
        encounter_id = rng.uuid()
        world.encounters.append((encounter_id, v))
        started = visit.starts_at + rng.randrange(0, 300)
        ended = timestamp(visit.ends_at) if visit.finished else None
        encounters.append(
            (
                encounter_id,
                patient.id,
                hospital.id,
                visit.appointment_id,
                doctor.user_id,
                complaint,
                timestamp(started),
                ended,
                timestamp(started),
            )
        )
        if rng.chance(0.7):
            systolic = rng.randrange(100, 175)
            vitals.append(
                (
                    rng.uuid(),
                    patient.id,
                    hospital.id,
                    encounter_id,
                    rng.choice(nurses[visit.hospital]),
                    timestamp(started),
                    systolic,
                    systolic - rng.randrange(30, 55),
                    rng.randrange(58, 115),
                    f"{rng.uniform(36.2, 38.9):.1f}",
                    rng.randrange(92, 100),
                    rng.randrange(12, 22),
                    f"{rng.uniform(12, 95):.1f}",
                    f"{rng.uniform(95, 185):.1f}",
                )
            )
        if visit.finished and rng.chance(0.6):
            diagnoses.append(
                (
                    rng.uuid(),
                    patient.id,
                    hospital.id,
                    encounter_id,
                    code,
                    description,
                    True,
                    doctor.user_id,
                    ended,
                    None,
                )
            )
            if rng.chance(0.2):
                code2, description2, _ = rng.choice(DIAGNOSES)
                if code2 != code:
                    diagnoses.append(
                        (
                            rng.uuid(),
                            patient.id,
                            hospital.id,
                            encounter_id,
                            code2,
                            description2,
                            False,
                            doctor.user_id,
                            ended,
                            timestamp(visit.ends_at + 30 * 86400)
                            if visit.ends_at + 30 * 86400 < world.now
                            else None,
                        )
                    )
        if visit.finished and rng.chance(0.2):
            for lab in rng.sample(LABS, rng.choice((1, 1, 2, 3))):
                value, status = _lab_value(rng, lab)
                finalised = min(visit.ends_at + rng.randrange(3600, 2 * 86400), world.now - 60)
                labs.append(
                    (
                        rng.uuid(),
                        patient.id,
                        hospital.id,
                        encounter_id,
                        doctor.user_id,
                        rng.choice(nurses[visit.hospital]),
                        lab[0],
                        world.today.fromordinal(int(finalised // 86400) + 719163).isoformat(),
                        value,
                        lab[1],
                        lab[2],
                        status,
                        timestamp(finalised),
                        timestamp(finalised),
                    )
                )
        if rng.chance(world.size.note_share):
            soap = {
                "chief_complaint": complaint,
                "subjective": f"{complaint}; no known drug allergies",
                "objective": "alert, afebrile, chest clear, abdomen soft",
                "assessment": f"{description} ({code})",
                "plan": "medicines as prescribed, review in two weeks",
            }
            signed = visit.finished
            notes.append(
                (
                    rng.uuid(),
                    patient.id,
                    hospital.id,
                    encounter_id,
                    visit.appointment_id,
                    doctor.user_id,
                    "signed" if signed else "draft",
                    json.dumps(soap, ensure_ascii=False),
                    ended if signed else None,
                    timestamp(started),
                    ended or timestamp(started),
                )
            )
    return [
        Table(
            "public.encounters",
            [
                "id",
                "patient_id",
                "hospital_id",
                "appointment_id",
                "clinician_id",
                "chief_complaint",
                "started_at",
                "ended_at",
                "created_at",
            ],
            encounters,
        ),
        Table(
            "public.vital_signs",
            [
                "id",
                "patient_id",
                "hospital_id",
                "encounter_id",
                "recorded_by",
                "recorded_at",
                "systolic_mmhg",
                "diastolic_mmhg",
                "heart_rate_bpm",
                "temperature_c",
                "spo2_percent",
                "respiratory_rate_per_min",
                "weight_kg",
                "height_cm",
            ],
            vitals,
        ),
        Table(
            "public.diagnoses",
            [
                "id",
                "patient_id",
                "hospital_id",
                "encounter_id",
                "icd10_code",
                "description",
                "is_primary",
                "diagnosed_by",
                "diagnosed_at",
                "resolved_at",
            ],
            diagnoses,
        ),
        Table(
            "public.lab_results",
            [
                "id",
                "patient_id",
                "hospital_id",
                "encounter_id",
                "ordered_by",
                "recorded_by",
                "test_name",
                "test_date",
                "result_value",
                "unit",
                "reference_range",
                "status",
                "finalised_at",
                "created_at",
            ],
            labs,
        ),
        Table(
            "public.clinical_notes",
            [
                "id",
                "patient_id",
                "hospital_id",
                "encounter_id",
                "appointment_id",
                "author_id",
                "status",
                "soap_encrypted",
                "signed_at",
                "created_at",
                "updated_at",
            ],
            notes,
            encrypted=("soap_encrypted",),
        ),
    ]


# Nurses who took vitals join the patient's care team (as staff assigning a nurse would).
DERIVED = [
    """
    insert into public.care_team_members
        (patient_id, hospital_id, member_id, member_role, is_primary, assigned_at, assigned_by)
    select patient_id, hospital_id, recorded_by, 'nurse', false, min(recorded_at), null
    from public.vital_signs
    where hospital_id = any(%(hospitals)s)
    group by patient_id, hospital_id, recorded_by
    on conflict do nothing
    """,
]
