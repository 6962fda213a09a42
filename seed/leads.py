"""The fertility front office of the generated hospitals (seed 004): leads over the last weeks,
each moved along the lead machine as its people would have moved it (front desk first, the CRO
queue, conversions, losses, leads handed back and re-engaged), with the calls that went with the
moves, the CROs' assignments and the open follow-ups of the CRO queue; and what the triggers on
hospitals and staff_memberships would have made (the lead form's lists, the CROs' rotation).

A converted lead became a patient of its hospital: its name and phone are that patient's (one
lead each), so the identity match would link them.
"""

from __future__ import annotations

import itertools

from seed import people
from seed.randomness import Randomness, timestamp
from seed.world import Table, World

SOURCES = ["Walk-In", "Google Ads", "Referral", "Sakhi App", "Camp", "Website", "Phone Call"]
SOURCE_WEIGHTS = list(itertools.accumulate([30, 20, 15, 10, 8, 12, 5]))
INQUIRIES = ["IVF", "IUI", "General", "ICSI", "Egg Freezing", "Male Infertility"]
INQUIRY_WEIGHTS = list(itertools.accumulate([35, 25, 18, 8, 6, 8]))
PROBLEMS = [
    "trying to conceive for 3 years",
    "two failed IUI cycles elsewhere",
    "irregular periods, PCOS diagnosed",
    "low sperm count in a recent test",
    "wants to know the cost of IVF",
    "blocked tubes on HSG",
    "recurrent miscarriages",
    "age 38, asking about egg freezing",
    None,
]
LOST_REASONS = [
    "too expensive",
    "chose another clinic",
    "not ready yet",
    "unreachable after several calls",
    "family did not agree",
]
SUGGESTIONS = ["IVF", "IUI", "semen analysis first", "AMH test and scan"]
# Paths through the lead machine (the initial new_inquiry implied) and how often people take
# them; a path ending in converted needs a patient to become.
PATHS: list[tuple[tuple[str, ...], int]] = [
    ((), 10),
    (("contacted",), 14),
    (("contacted", "converted"), 12),
    (("converted",), 4),
    (("contacted", "stalling_sent_to_cro"), 8),
    (("stalling_sent_to_cro",), 4),
    (("contacted", "stalling_sent_to_cro", "converted"), 7),
    (("contacted", "stalling_sent_to_cro", "lost"), 6),
    (("contacted", "stalling_sent_to_cro", "contacted"), 3),
    (("contacted", "stalling_sent_to_cro", "contacted", "converted"), 2),
    (("lost",), 10),
    (("contacted", "lost"), 10),
    (("lost", "contacted"), 2),
]
PATH_WEIGHTS = list(itertools.accumulate(w for _, w in PATHS))
# Who makes each move (the machine's roles), and the call that goes with it.
CRO_MOVES = {("stalling_sent_to_cro", "contacted"), ("stalling_sent_to_cro", "converted")}
CRO_MOVES |= {("stalling_sent_to_cro", "lost")}
CALL_OUTCOME = {
    "contacted": "interested",
    "stalling_sent_to_cro": "hesitant",
    "converted": "interested",
    "lost": "not_interested",
}

LEAD_COLUMNS = [
    "id",
    "hospital_id",
    "full_name",
    "phone",
    "age",
    "sex",
    "source",
    "inquiry",
    "problem",
    "treatment_doctor",
    "treatment_suggested",
    "status",
    "status_reason",
    "status_changed_at",
    "assigned_to",
    "assigned_at",
    "last_inquiry_at",
    "last_contacted_at",
    "patient_id",
    "converted_at",
    "stages_reached",
    "created_via",
    "created_by",
    "created_at",
    "updated_at",
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
ACTIVITY_COLUMNS = [
    "id",
    "lead_id",
    "hospital_id",
    "kind",
    "outcome",
    "notes",
    "details",
    "actor_id",
    "occurred_at",
]
FOLLOW_UP_COLUMNS = ["id", "lead_id", "hospital_id", "assigned_to", "due_at", "note", "created_by"]


def lead_days(world: World) -> int:
    """How far back leads come in: at least the last 60 days, as far as the appointments go."""
    return max(world.size.days_back, 60)


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "leads")
    leads: list[tuple] = []
    history: list[tuple] = []
    activities: list[tuple] = []
    follow_ups: list[tuple] = []
    now = world.now
    start = now - lead_days(world) * 86400
    hospitals = len(world.hospitals)
    # Each patient becomes at most one lead's conversion, in random order per hospital.
    becoming = {h: list(hospital.patients) for h, hospital in enumerate(world.hospitals)}
    for candidates in becoming.values():
        rng.shuffle(candidates)
    front_desk = {h: world.staff_of(h, "front_desk") for h in range(hospitals)}
    cros = {h: world.staff_of(h, "cro") for h in range(hospitals)}
    turn = dict.fromkeys(range(hospitals), 0)
    doctors = {h: [s.name for s in world.staff_of(h, "doctor")] for h in range(hospitals)}
    for _ in range(world.size.leads):
        h = rng.randrange(hospitals)
        hospital = world.hospitals[h]
        created = start + rng.random() * (now - start - 600)
        age_days = (now - created) / 86400
        # The last two days' leads have mostly not been worked yet.
        path = rng.choices([p for p, _ in PATHS], cum_weights=PATH_WEIGHTS)[0]
        if age_days < 2 and rng.chance(0.7):
            path = path[:1] if path[:1] != ("converted",) else ()
        patient = None
        if "converted" in path:
            if not becoming[h]:
                path = path[: path.index("converted")]
            else:
                patient = world.patients[becoming[h].pop()]
        lead_id = rng.uuid()
        source = rng.choices(SOURCES, cum_weights=SOURCE_WEIGHTS)[0]
        website = source == "Website"
        entered_by = None if website else rng.choice(front_desk[h]).user_id
        sex = "female" if rng.chance(0.8) else "male"
        if patient is not None:
            full_name, phone = patient.full_name, patient.phone or people.mobile(rng)
        else:
            full_name, phone = people.person_name(rng, sex).latin, people.mobile(rng)
        camp = source == "Camp"
        history.append(
            (rng.uuid(), "lead", lead_id, hospital.id, None, "new_inquiry", entered_by,
             None if website else "front_desk", None, timestamp(created))
        )  # fmt: skip
        state, at, reason, contacted = "new_inquiry", created, None, None
        assigned_to = assigned_at = None
        for step in path:
            # Later each move, and before now (recent leads' moves close together).
            at += min(rng.uniform(0.5, 72) * 3600, (now - 60 - at) / (len(path) + 1))
            by_cro = (state, step) in CRO_MOVES
            actor = assigned_to or rng.choice(cros[h]).user_id if by_cro else entered_by
            actor = actor or rng.choice(front_desk[h]).user_id
            reason = rng.choice(LOST_REASONS) if step == "lost" else None
            if rng.chance(0.3):  # an unanswered call first
                activities.append(
                    (rng.uuid(), lead_id, hospital.id, "call", "no_answer", None, "{}", actor,
                     timestamp(max(created + 60, at - rng.uniform(1, 10) * 3600)))
                )  # fmt: skip
            activities.append(
                (rng.uuid(), lead_id, hospital.id, "call", CALL_OUTCOME[step], None, "{}", actor,
                 timestamp(at - 300))
            )  # fmt: skip
            contacted = at - 300
            history.append(
                (rng.uuid(), "lead", lead_id, hospital.id, state, step, actor,
                 "cro" if by_cro else "front_desk", reason, timestamp(at))
            )  # fmt: skip
            # Round-robin to the hospital's CROs; a few wait unassigned in the queue.
            waits = step == path[-1] and rng.chance(0.15)
            if step == "stalling_sent_to_cro" and assigned_to is None and not waits:
                cro = cros[h][turn[h] % len(cros[h])]
                turn[h] += 1
                assigned_to, assigned_at = cro.user_id, at
                activities.append(
                    (rng.uuid(), lead_id, hospital.id, "assigned", None, None,
                     f'{{"from": null, "to": "{cro.user_id}", "how": "round_robin"}}',
                     entered_by, timestamp(at))
                )  # fmt: skip
            state = step
        if state == "stalling_sent_to_cro" and assigned_to is not None:
            follow_ups.append(
                (rng.uuid(), lead_id, hospital.id, assigned_to,
                 timestamp(now + rng.uniform(1, 72) * 3600), "call back about the treatment cost",
                 assigned_to)
            )  # fmt: skip
        leads.append(
            (
                lead_id,
                hospital.id,
                full_name,
                phone,
                rng.randrange(22, 46),
                sex if patient is None else None,
                source,
                rng.choices(INQUIRIES, cum_weights=INQUIRY_WEIGHTS)[0],
                rng.choice(PROBLEMS),
                rng.choice(doctors[h]) if camp and doctors[h] else None,
                rng.choice(SUGGESTIONS) if camp else None,
                state,
                reason if state == "lost" else None,
                timestamp(at),
                assigned_to,
                timestamp(assigned_at) if assigned_at else None,
                timestamp(created),
                timestamp(contacted) if contacted else None,
                patient.id if state == "converted" and patient else None,
                timestamp(at) if state == "converted" else None,
                "{" + ",".join(dict.fromkeys(("new_inquiry", *path))) + "}",
                "website" if website else "app",
                entered_by,
                timestamp(created),
                timestamp(at),
            )
        )
    return [
        Table("public.leads", LEAD_COLUMNS, leads),
        Table("public.status_history", HISTORY_COLUMNS, history),
        Table("public.lead_activities", ACTIVITY_COLUMNS, activities),
        Table("public.lead_follow_ups", FOLLOW_UP_COLUMNS, follow_ups),
    ]


DERIVED = [
    # private.add_default_lead_options, for each generated hospital.
    """
    insert into public.lead_options
        (hospital_id, kind, name, specialty, appointment_type, is_website, position)
    select h.id, d.kind, d.name, d.specialty, d.appointment_type, d.is_website, d.sort_order
    from public.hospitals as h
    cross join private.default_lead_options() as d
    where h.id = any(%(hospitals)s)
    on conflict do nothing
    """,
    # private.follow_cro_membership: every active CRO is in their hospital's rotation.
    """
    insert into public.cro_rotation (hospital_id, user_id)
    select m.hospital_id, m.user_id
    from public.staff_memberships as m
    where m.hospital_id = any(%(hospitals)s) and m.role = 'cro' and m.is_active
    on conflict do nothing
    """,
]
