"""Tickets of the generated hospitals (seed 001 PRM): patients' requests and complaints and the
follow-ups journeys opened, moved along the ticket machine (open, in progress, waiting on the
patient, resolved, closed, a few reopened), with their status history (the ticket's events, what
the SLA is measured on), staff comments and internal notes, and each hospital's SLA targets.

Only what the guards allow: assignees are active staff of the ticket's hospital, a resolved
ticket says how it was resolved, a ticket on a journey is the journey patient's.
"""

from __future__ import annotations

import itertools

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

# (title, category, description)
SUBJECTS = [
    ("Wants to reschedule the appointment", "scheduling", "Asked on WhatsApp for an evening slot."),
    ("Report not visible in the app", "results", "Says the app shows no report since Monday."),
    ("Refund for a cancelled visit", "billing", "Paid online, the visit was cancelled by us."),
    ("Bill shows a charge twice", "billing", None),
    ("Medicines not ready at pickup", "pharmacy", "Came at 6 pm, was told to come next day."),
    ("Long waiting time in OPD", "complaint", "Waited two hours past the appointment time."),
    ("Needs a medical certificate", "documents", "For the office, dates of the admission."),
    ("Insurance claim papers", "billing", "TPA asked for the discharge summary copy."),
    ("App OTP not received", "app", "Tried three times on the registered number."),
    ("Call the patient: how are they doing?", "follow_up", None),
    ("Parking staff were rude", "complaint", None),
    ("Wants a female doctor for the follow-up", "scheduling", None),
]
COMMENTS = [
    "Called the patient, no answer. Will try again in the evening.",
    "Patient ko call kiya, kal aayenge.",
    "Spoke to the billing desk, they will check the payment.",
    "Sent the new time on WhatsApp.",
    "Pharmacy says the stock comes tomorrow morning.",
    "Escalated to the OPD in-charge.",
    "मरीज़ से बात हो गई, कल सुबह आएंगे।",
]
RESOLUTIONS = [
    "Rescheduled to the evening slot.",
    "Refund processed, reference sent by SMS.",
    "Duplicate charge reversed.",
    "Certificate issued at the front desk.",
    "Report re-shared; the patient can see it now.",
    "Apologised and explained; the patient is satisfied.",
]
# Paths through the ticket machine (the initial open implied) and how often they are taken.
PATHS: list[tuple[tuple[str, ...], int]] = [
    ((), 18),
    (("in_progress",), 14),
    (("waiting_on_patient",), 5),
    (("in_progress", "waiting_on_patient"), 6),
    (("in_progress", "resolved"), 16),
    (("resolved",), 6),
    (("in_progress", "resolved", "closed"), 18),
    (("in_progress", "waiting_on_patient", "in_progress", "resolved", "closed"), 5),
    (("waiting_on_patient", "closed"), 4),
    (("open_closed",), 3),
    (("in_progress", "resolved", "open"), 3),
    (("in_progress", "resolved", "open", "in_progress", "resolved", "closed"), 2),
]
PATH_WEIGHTS = list(itertools.accumulate(w for _, w in PATHS))
PRIORITIES = ["low", "medium", "high", "urgent"]
PRIORITY_WEIGHTS = list(itertools.accumulate([25, 50, 20, 5]))
# Minutes to respond and to resolve, by priority (the SLA targets of every generated hospital).
SLA = {"low": (480, 4320), "medium": (240, 2880), "high": (60, 1440), "urgent": (15, 240)}
REASONS = {
    ("open", "closed"): "duplicate of another ticket",
    ("waiting_on_patient", "closed"): "the patient never answered",
    ("resolved", "open"): "the patient says the problem is back",
    ("closed", "open"): "reopened after it was closed",
}

TICKET_COLUMNS = [
    "id",
    "hospital_id",
    "patient_id",
    "journey_instance_id",
    "title",
    "description",
    "category",
    "priority",
    "status",
    "status_reason",
    "status_changed_at",
    "assigned_to",
    "resolution_notes",
    "created_by",
    "created_at",
    "updated_at",
]
COMMENT_COLUMNS = [
    "id",
    "ticket_id",
    "hospital_id",
    "patient_id",
    "author_id",
    "body",
    "is_internal",
    "by_staff",
    "created_at",
]
HISTORY_COLUMNS = [
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
]
SLA_COLUMNS = ["hospital_id", "priority", "first_response_minutes", "resolution_minutes"]


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "tickets")
    now = world.now
    start = now - world.size.days_back * 86400
    tickets: list[tuple] = []
    comments: list[tuple] = []
    history: list[tuple] = []
    targets = [
        (hospital.id, priority, response, resolution)
        for hospital in world.hospitals
        for priority, (response, resolution) in SLA.items()
    ]
    handlers = {
        h: [s for s in world.staff if s.hospital == h and s.role in ("front_desk", "cro")]
        for h in range(len(world.hospitals))
    }
    registered = [(i, h) for i, p in enumerate(world.patients) for h in p.hospitals]
    journeys = world.journey_instances
    for _ in range(world.size.tickets):
        instance = None
        if journeys and rng.chance(0.2):
            instance, patient_index, h = rng.choice(journeys)
            title, category, description = SUBJECTS[9]
        else:
            patient_index, h = rng.choice(registered)
            title, category, description = rng.choice(SUBJECTS)
        hospital = world.hospitals[h]
        patient = world.patients[patient_index]
        opener = rng.choice(handlers[h])
        handler = rng.choice(handlers[h])
        created = start + rng.random() * (now - start - 600)
        path = rng.choices([p for p, _ in PATHS], cum_weights=PATH_WEIGHTS)[0]
        if now - created < 3 * 3600:
            path = path[:1]
        ticket_id = rng.uuid()
        history.append(
            (rng.uuid(), "ticket", ticket_id, hospital.id, None, "open", opener.user_id,
             opener.role, None, timestamp(created))
        )  # fmt: skip
        state, at, reason, assigned, resolution = "open", created, None, None, None
        for step in path:
            step = "closed" if step == "open_closed" else step
            at += min(rng.uniform(0.2, 30) * 3600, (now - 60 - at) / (len(path) + 1))
            reason = REASONS.get((state, step))
            if step == "in_progress" and assigned is None:
                assigned = handler.user_id
            if step == "resolved":
                resolution = rng.choice(RESOLUTIONS)
            history.append(
                (rng.uuid(), "ticket", ticket_id, hospital.id, state, step, handler.user_id,
                 handler.role, reason, timestamp(at))
            )  # fmt: skip
            if step in ("in_progress", "waiting_on_patient") and rng.chance(0.7):
                comments.append(
                    (rng.uuid(), ticket_id, hospital.id, patient.id, handler.user_id,
                     rng.choice(COMMENTS), rng.chance(0.4), True, timestamp(at + 60))
                )  # fmt: skip
            state = step
        if not path and rng.chance(0.3):
            assigned = handler.user_id
        tickets.append(
            (ticket_id, hospital.id, patient.id, instance, title, description, category,
             rng.choices(PRIORITIES, cum_weights=PRIORITY_WEIGHTS)[0], state,
             reason if state in ("closed", "open") else None, timestamp(at), assigned,
             resolution if state in ("resolved", "closed") else None, opener.user_id,
             timestamp(created), timestamp(at + 60 if comments and comments[-1][1] == ticket_id
                                          else at))
        )  # fmt: skip
    return [
        Table("public.ticket_sla_targets", SLA_COLUMNS, targets),
        Table("public.tickets", TICKET_COLUMNS, tickets),
        Table("public.ticket_comments", COMMENT_COLUMNS, comments),
        Table("public.status_history", HISTORY_COLUMNS, history),
    ]
