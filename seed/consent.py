"""Consent documents and patients' consent events; uploaded patient documents."""

from __future__ import annotations

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

PURPOSES = {
    "record_sharing": "Sharing my records with another hospital",
    "external_pharmacy": "Sending my prescriptions to a pharmacy outside the hospital",
    "contact_whatsapp": "Messages on WhatsApp",
    "contact_sms": "Messages by SMS",
    "contact_email": "Messages by email",
}
DOCUMENTS = [
    ("insurance", "Insurance card.pdf", "application/pdf"),
    ("lab_report", "Outside lab report.pdf", "application/pdf"),
    ("previous_history", "Discharge summary.pdf", "application/pdf"),
    ("imaging", "Chest X-ray.jpg", "image/jpeg"),
    ("prescription", "Old prescription.jpg", "image/jpeg"),
    ("consent", "Signed consent form.pdf", "application/pdf"),
    ("other", "Referral letter.pdf", "application/pdf"),
]


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "consent")
    published = world.now - (world.size.days_back + 90) * 86400
    documents, events, uploads = [], [], []
    for h, hospital in enumerate(world.hospitals):
        admin = world.staff_of(h, "hospital_admin")[0].user_id
        for purpose, title in PURPOSES.items():
            document_id = rng.uuid()
            hospital.consent_documents[purpose] = document_id
            documents.append(
                (
                    document_id,
                    hospital.id,
                    purpose,
                    1,
                    title,
                    f"I agree to: {title.lower()}. I can withdraw this consent at any time.",
                    timestamp(published),
                    admin,
                )
            )
    for patient in world.patients:
        for h in patient.hospitals:
            hospital = world.hospitals[h]
            front_desk = rng.choice(world.staff_of(h, "front_desk")).user_id
            at = patient.registered_at
            for purpose, share in (
                ("contact_sms", 0.85),
                ("contact_whatsapp", 0.5),
                ("record_sharing", 0.3),
                ("external_pharmacy", 0.1),
            ):
                if not rng.chance(share):
                    continue
                events.append(
                    (
                        rng.uuid(),
                        patient.id,
                        hospital.id,
                        hospital.consent_documents[purpose],
                        purpose,
                        "granted",
                        timestamp(at),
                        front_desk,
                    )
                )
                # Some sharing consents are withdrawn later (contact consents are kept, so the
                # generated notifications need no consent filtering).
                if purpose in ("record_sharing", "external_pharmacy") and rng.chance(0.15):
                    later = at + (world.now - at) * rng.random()
                    events.append(
                        (
                            rng.uuid(),
                            patient.id,
                            hospital.id,
                            hospital.consent_documents[purpose],
                            purpose,
                            "withdrawn",
                            timestamp(later),
                            None,
                        )
                    )
            if rng.chance(0.2):
                kind, name, mime = rng.choice(DOCUMENTS)
                document_id = rng.uuid()
                uploads.append(
                    (
                        document_id,
                        patient.id,
                        hospital.id,
                        name,
                        kind,
                        f"patients/{patient.id}/{document_id}{name[name.rfind('.') :]}",
                        mime,
                        rng.randrange(40_000, 4_000_000),
                        front_desk,
                        timestamp(at + 600),
                    )
                )
    return [
        Table(
            "public.consent_documents",
            [
                "id",
                "hospital_id",
                "purpose",
                "version",
                "title",
                "body",
                "published_at",
                "created_by",
            ],
            documents,
        ),
        Table(
            "public.consent_events",
            [
                "id",
                "patient_id",
                "hospital_id",
                "document_id",
                "purpose",
                "action",
                "recorded_at",
                "recorded_by",
            ],
            events,
        ),
        Table(
            "public.patient_documents",
            [
                "id",
                "patient_id",
                "hospital_id",
                "name",
                "document_type",
                "storage_path",
                "mime_type",
                "size_bytes",
                "uploaded_by",
                "uploaded_at",
            ],
            uploads,
        ),
    ]
