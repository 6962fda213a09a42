"""Patient journeys of the generated hospitals (seed 001 PRM): three journey definitions per
hospital (after a consultation, an IVF cycle, a lab report), version 1 with their stages and
actions, and patients on them: instances started by a completed visit, moved stage by stage
(each stage entered is an event; the past ones completed), active, completed or cancelled, with
the status history the machine would have written.

At most one active instance of a journey per patient (the exclusion constraint): a patient
already on a journey gets a completed or cancelled instance instead, by construction.
The journeys' ids go on world.journey_instances for the messages and tickets that hang on them.
"""

from __future__ import annotations

import json

from seed.randomness import Randomness, timestamp
from seed.world import Table, World

# (name, journey_type, is_default, description, trigger_conditions,
#  stages: [(name, trigger_event, wait_days, due_days, actions)])
JOURNEYS = [
    (
        "After a consultation",
        "post_visit",
        True,
        "Instructions after the visit, a check-in call and the follow-up visit.",
        {"appointment_type": "consultation"},
        [
            ("Visit done", "appointment_completed", None, 1,
             [{"type": "send_template", "template_code": "visit_instructions",
               "channel": "whatsapp"}]),
            ("Check-in call", "days_after_previous", 3, 2,
             [{"type": "create_ticket", "title": "Call the patient: how are they doing?",
               "priority": "low", "category": "follow_up"}]),
            ("Follow-up visit", "days_after_previous", 14, 7,
             [{"type": "send_template", "template_code": "follow_up_due", "channel": "sms"},
              {"type": "book_follow_up", "days": "14"}]),
        ],
    ),
    (
        "IVF cycle",
        "fertility",
        False,
        "From the first consultation to the pregnancy test.",
        {"department": "fertility"},
        [
            ("Consultation", "manual", None, 2, []),
            ("Stimulation", "days_after_start", 2, 10,
             [{"type": "send_template", "template_code": "stimulation_start",
               "channel": "whatsapp"}]),
            ("Egg retrieval", "days_after_previous", 12, 2,
             [{"type": "create_ticket", "title": "Confirm the retrieval slot and fasting",
               "priority": "high", "category": "scheduling"}]),
            ("Embryo transfer", "days_after_previous", 5, 1, []),
            ("Pregnancy test", "days_after_previous", 14, 2,
             [{"type": "send_template", "template_code": "results_ready", "channel": "sms"}]),
        ],
    ),
    (
        "Lab report",
        "general",
        False,
        "Tell the patient the report is ready; the doctor calls when it needs a visit.",
        {},
        [
            ("Report ready", "lab_result_recorded", None, 1,
             [{"type": "send_template", "template_code": "results_ready", "channel": "sms"}]),
            ("Doctor's call", "days_after_previous", 2, 3,
             [{"type": "create_ticket", "title": "Doctor to call about the report",
               "priority": "medium", "category": "results"}]),
        ],
    ),
]  # fmt: skip
CANCEL_REASONS = ["the patient moved to another city", "the patient asked to stop", "duplicate"]

JOURNEY_COLUMNS = [
    "id",
    "hospital_id",
    "name",
    "description",
    "journey_type",
    "is_default",
    "is_active",
    "created_by",
    "created_at",
    "updated_at",
]
VERSION_COLUMNS = [
    "id",
    "journey_id",
    "hospital_id",
    "version",
    "trigger_conditions",
    "created_by",
    "created_at",
]
STAGE_COLUMNS = [
    "id",
    "journey_version_id",
    "journey_id",
    "hospital_id",
    "position",
    "name",
    "description",
    "trigger_event",
    "wait_days",
    "due_days",
    "actions",
    "created_at",
]
INSTANCE_COLUMNS = [
    "id",
    "hospital_id",
    "patient_id",
    "journey_id",
    "journey_version_id",
    "appointment_id",
    "context",
    "status",
    "status_reason",
    "status_changed_at",
    "current_stage_id",
    "stage_entered_at",
    "started_by",
    "created_at",
    "updated_at",
    "completed_at",
]
EVENT_COLUMNS = [
    "id",
    "instance_id",
    "hospital_id",
    "patient_id",
    "stage_id",
    "entered_at",
    "entered_by_event",
    "completed_at",
    "completed_by",
    "notes",
    "actions_done",
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


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "journeys")
    now = world.now
    defined = timestamp(now - (world.size.days_back + 30) * 86400)
    journeys: list[tuple] = []
    versions: list[tuple] = []
    stages: list[tuple] = []
    # hospital -> [(journey id, version id, [(stage id, wait days, actions)])]
    made: dict[int, list[tuple[str, str, list[tuple[str, int, list, str]]]]] = {}
    for h, hospital in enumerate(world.hospitals):
        admin = world.staff_of(h, "hospital_admin")[0].user_id
        for name, kind, default, description, conditions, steps in JOURNEYS:
            journey_id, version_id = rng.uuid(), rng.uuid()
            journeys.append(
                (journey_id, hospital.id, name, description, kind, default, True, admin,
                 defined, defined)
            )  # fmt: skip
            versions.append(
                (version_id, journey_id, hospital.id, 1, json.dumps(conditions), admin, defined)
            )
            ours = []
            for position, (stage, event, wait, due, actions) in enumerate(steps, 1):
                stage_id = rng.uuid()
                stages.append(
                    (stage_id, version_id, journey_id, hospital.id, position, stage, None, event,
                     wait, due, json.dumps(actions), defined)
                )  # fmt: skip
                ours.append((stage_id, wait or 0, actions, event))
            made.setdefault(h, []).append((journey_id, version_id, ours))

    instances: list[tuple] = []
    events: list[tuple] = []
    history: list[tuple] = []
    active: set[tuple[int, str]] = set()
    visits = [v for v in world.visits if v.finished and v.ends_at < now - 3600]
    if not visits:
        return _tables(journeys, versions, stages, instances, events, history)
    for _ in range(world.size.journey_instances):
        visit = rng.choice(visits)
        h = visit.hospital
        hospital = world.hospitals[h]
        patient = world.patients[visit.patient]
        journey_id, version_id, steps = rng.choice(made[h])
        staff = rng.choice(
            [s for s in world.staff if s.hospital == h and s.role in ("cro", "front_desk")]
        )
        started = visit.ends_at + rng.uniform(5, 120) * 60
        # How far it got: each stage entered after its wait (at least an hour after the last).
        entered = [started]
        for _stage_id, wait, _, _event in steps[1:]:
            at = entered[-1] + max(wait * 86400, 3600) + rng.uniform(0, 8) * 3600
            if at >= now - 60:
                break
            entered.append(at)
        if len(entered) == len(steps) and rng.chance(0.8):
            status = "completed"
        elif rng.chance(0.12):
            status = "cancelled"
        else:
            status = "active"
        if status == "active" and (visit.patient, journey_id) in active:
            status = "cancelled"
        if status == "active":
            active.add((visit.patient, journey_id))
        ended = entered[-1] + rng.uniform(1, 48) * 3600 if status != "active" else None
        if ended is not None and ended >= now - 60:
            ended = now - 60
        instance_id = rng.uuid()
        world.journey_instances.append((instance_id, visit.patient, h))
        for n, at in enumerate(entered):
            stage_id, _, actions, event = steps[n]
            done = n < len(entered) - 1 or status == "completed"
            completed = entered[n + 1] if n < len(entered) - 1 else ended if done else None
            events.append(
                (rng.uuid(), instance_id, hospital.id, patient.id, stage_id, timestamp(at),
                 "start" if n == 0 else event,
                 timestamp(completed) if completed else None,
                 staff.user_id if completed else None, None,
                 json.dumps([{**a, "outcome": "done"} for a in actions]))
            )  # fmt: skip
        reason = rng.choice(CANCEL_REASONS) if status == "cancelled" else None
        changed = ended or started
        instances.append(
            (instance_id, hospital.id, patient.id, journey_id, version_id, visit.appointment_id,
             json.dumps({"source": "appointment_completed"}), status, reason, timestamp(changed),
             steps[len(entered) - 1][0], timestamp(entered[-1]), staff.user_id,
             timestamp(started), timestamp(max(changed, entered[-1])),
             timestamp(ended) if status == "completed" else None)
        )  # fmt: skip
        history.append(
            (rng.uuid(), "journey_instance", instance_id, hospital.id, None, "active",
             staff.user_id, staff.role, None, timestamp(started))
        )  # fmt: skip
        if status != "active":
            history.append(
                (rng.uuid(), "journey_instance", instance_id, hospital.id, "active", status,
                 staff.user_id, staff.role, reason, timestamp(changed))
            )  # fmt: skip
    return _tables(journeys, versions, stages, instances, events, history)


def _tables(journeys, versions, stages, instances, events, history) -> list[Table]:
    return [
        Table("public.journeys", JOURNEY_COLUMNS, journeys),
        Table("public.journey_versions", VERSION_COLUMNS, versions),
        Table("public.journey_stages", STAGE_COLUMNS, stages),
        Table("public.journey_instances", INSTANCE_COLUMNS, instances),
        Table("public.journey_stage_events", EVENT_COLUMNS, events),
        Table("public.status_history", HISTORY_COLUMNS, history),
    ]
