"""What each size makes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    hospitals: int
    doctors_per_hospital: int
    # Other staff per hospital: admins, front desk, CROs, nurses, pharmacists.
    admins: int
    front_desk: int
    cros: int
    nurses: int
    pharmacists: int
    patients: int
    appointments: int
    days_back: int
    days_ahead: int
    # Share of encounters with an encrypted SOAP note, and of completed visits with a
    # prescription. Encryption (pgp_sym_encrypt, ~1 ms a value) bounds the large sizes.
    note_share: float
    prescription_share: float
    # Share of patients registered at a second hospital.
    second_registration_share: float = 0.05
    # Share of patients registered a second time at their hospital as a new record (the name
    # written another way, the same phone and birth date): what the duplicate review queue is
    # for. Higher on the small sizes, so that their queues are not empty.
    duplicate_share: float = 0.01
    # Leads of the fertility front office (seed 004), over the last days_back days (60 at least).
    leads: int = 0
    # Patient engagement (seed 001 PRM): messages on WhatsApp and SMS over the last days_back
    # days (and scheduled ones ahead), tickets, and patients on journeys.
    messages: int = 0
    tickets: int = 0
    journey_instances: int = 0


SIZES = {
    size.name: size
    for size in (
        Size(
            "tiny",
            1,
            4,
            1,
            1,
            1,
            2,
            1,
            60,
            400,
            21,
            7,
            1.0,
            0.4,
            duplicate_share=0.08,
            leads=150,
            messages=300,
            tickets=40,
            journey_instances=30,
        ),
        Size(
            "demo",
            2,
            8,
            1,
            2,
            1,
            4,
            2,
            400,
            3_000,
            30,
            7,
            1.0,
            0.35,
            duplicate_share=0.02,
            leads=1_200,
            messages=800,
            tickets=120,
            journey_instances=80,
        ),
        Size(
            "large",
            2,
            100,
            2,
            10,
            4,
            40,
            6,
            100_000,
            1_000_000,
            330,
            30,
            0.05,
            0.25,
            leads=100_000,
            messages=1_000_000,
            tickets=20_000,
            journey_instances=30_000,
        ),
        Size(
            "xl",
            10,
            200,
            2,
            20,
            6,
            80,
            8,
            1_000_000,
            10_000_000,
            330,
            30,
            0.02,
            0.15,
            leads=1_000_000,
            messages=5_000_000,
            tickets=100_000,
            journey_instances=150_000,
        ),
    )
}
