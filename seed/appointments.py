"""Appointments in the past and the future, in every status, never overlapping.

No overlap by construction: each doctor's appointments fill distinct slots of their working
hours (days off skipped), and a patient already booked in a 15-minute cell is not booked again
in it (every slot starts on the 15-minute grid).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from seed.randomness import Randomness, timestamp
from seed.world import Table, Visit, World

TYPES = ["consultation", "follow_up", "procedure", "scan", "ivf_consult", "iui_procedure"]
TYPE_WEIGHTS = list(itertools.accumulate([60, 30, 4, 4, 1, 1]))
SOURCES = ["app", "web", "front_desk", "voice_agent"]
SOURCE_WEIGHTS = list(itertools.accumulate([35, 10, 50, 5]))
REASONS = [
    "fever and cough",
    "follow-up of blood pressure",
    "diabetes review",
    "joint pain",
    "stomach ache",
    "skin rash",
    "headache",
    "antenatal check-up",
    "child vaccination",
    "back pain",
    "breathlessness on walking",
    "thyroid review",
    "ear pain",
    "eye redness",
]
CANCEL_REASONS = [
    "patient asked to cancel",
    "doctor on emergency duty",
    "patient travelling",
    "booked twice by mistake",
    "rescheduled by phone",
]
COLUMNS = [
    "id",
    "hospital_id",
    "doctor_id",
    "doctor_user_id",
    "patient_id",
    "starts_at",
    "ends_at",
    "appointment_type",
    "mode",
    "video_room",
    "reason",
    "source",
    "status",
    "status_reason",
    "status_changed_at",
    "booked_by",
    "created_at",
    "updated_at",
]
CELL = 900  # seconds in a grid cell


def _status(rng: Randomness, starts: float, ends: float, now: float) -> str:
    if ends <= now:
        return rng.choices(("completed", "no_show", "cancelled"), (80, 8, 12))[0]
    if starts <= now:
        return "in_consultation"
    if starts - now < 3 * 3600:
        return rng.choices(("scheduled", "arrived", "checked_in", "cancelled"), (50, 20, 20, 10))[0]
    return rng.choices(("scheduled", "requested", "cancelled"), (84, 8, 8))[0]


def _rows(world: World) -> Iterator[tuple]:
    rng = Randomness(world.seed, "appointments")
    size = world.size
    now = world.now
    today = world.today.toordinal()
    first_day = today - size.days_back
    last_day = world.today.toordinal() + size.days_ahead
    capacity = 0
    for doctor in world.doctors:
        for day in range(first_day, last_day + 1):
            if day in doctor.time_off:
                continue
            weekday = world.today.fromordinal(day).isoweekday()
            capacity += sum((e - s) // m for w, s, e, m in doctor.hours if w == weekday)
    occupancy = min(0.95, size.appointments / max(capacity, 1))
    panels: dict[int, list[int]] = {}
    for n, patient in enumerate(world.patients):
        for h, d in patient.primary_doctor.items():
            panels.setdefault(d, []).append(n)
            del h
    busy: set[int] = set()
    front_desk = {
        h: [s.user_id for s in world.staff_of(h, "front_desk")] for h in range(size.hospitals)
    }
    for d, doctor in enumerate(world.doctors):
        hospital = world.hospitals[doctor.hospital]
        everyone = hospital.patients
        panel = panels.get(d) or everyone
        modes = doctor.modes.strip("{}").split(",")
        for day in range(first_day, last_day + 1):
            if day in doctor.time_off:
                continue
            weekday = world.today.fromordinal(day).isoweekday()
            midnight = world.local_midnight(day)
            for w, start, end, minutes in doctor.hours:
                if w != weekday:
                    continue
                for minute in range(start, end - minutes + 1, minutes):
                    starts = midnight + minute * 60
                    ends = starts + minutes * 60
                    # Today is busy (the demo shows a full clinic): every slot running now is
                    # taken, and most of the others.
                    wanted = occupancy if day != today else 1.0 if starts <= now < ends else 0.8
                    if rng.random() >= max(occupancy, wanted):
                        continue
                    cells = range(int(starts) // CELL, int(ends - 1) // CELL + 1)
                    # A patient registered by then and free then (a few tries, else the slot
                    # stays free).
                    for _ in range(6):
                        n = rng.choice(panel) if rng.random() < 0.65 else rng.choice(everyone)
                        keys = [(n << 32) | c for c in cells]
                        patient = world.patients[n]
                        if patient.registered_at <= starts and not any(k in busy for k in keys):
                            break
                    else:
                        continue
                    busy.update(keys)
                    appointment_id = rng.uuid()
                    status = _status(rng, starts, ends, now)
                    booked = max(patient.registered_at, starts - rng.randrange(3600, 21 * 86400))
                    booked = min(booked, now - 60)
                    if status in ("completed", "in_consultation"):
                        world.visits.append(
                            Visit(
                                appointment_id,
                                n,
                                doctor.hospital,
                                d,
                                starts,
                                ends,
                                status == "completed",
                            )
                        )
                    changed = booked
                    if status in ("completed", "no_show"):
                        changed = ends
                    elif status in ("arrived", "checked_in", "in_consultation"):
                        changed = min(now, starts)
                    elif status == "cancelled":
                        changed = booked + (min(starts, now) - booked) * rng.random()
                    source = rng.choices(SOURCES, cum_weights=SOURCE_WEIGHTS)[0]
                    mode = rng.choice(modes)
                    yield (
                        appointment_id,
                        hospital.id,
                        doctor.id,
                        doctor.user_id,
                        patient.id,
                        timestamp(starts),
                        timestamp(ends),
                        rng.choices(TYPES, cum_weights=TYPE_WEIGHTS)[0],
                        mode,
                        "cb-" + appointment_id.replace("-", "") if mode != "in_person" else None,
                        rng.choice(REASONS),
                        source,
                        status,
                        rng.choice(CANCEL_REASONS) if status == "cancelled" else None,
                        timestamp(changed),
                        rng.choice(front_desk[doctor.hospital]) if source == "front_desk" else None,
                        timestamp(booked),
                        timestamp(changed),
                    )


def build(world: World) -> list[Table]:
    return [Table("public.appointments", COLUMNS, _rows(world))]


# Rows the triggers would have written, made set-based after the load (%(hospitals)s: the
# generated hospitals). The booked doctor joins the patient's care team, as
# private.add_booked_doctor_to_care_team does; the doctor seen most is the primary one.
DERIVED = [
    """
    insert into public.care_team_members
        (patient_id, hospital_id, member_id, member_role, is_primary, assigned_at, assigned_by)
    select patient_id, hospital_id, doctor_user_id, 'doctor',
        row_number() over (
            partition by patient_id, hospital_id order by count(*) desc, doctor_user_id
        ) = 1,
        min(created_at), null
    from public.appointments
    where hospital_id = any(%(hospitals)s) and patient_id is not null
    group by patient_id, hospital_id, doctor_user_id
    """,
    # private.enforce_state_machine's record of every transition, along the path each final
    # status was reached by.
    """
    insert into public.status_history
        (machine, subject_id, hospital_id, from_state, to_state, actor_id, actor_role, reason,
         occurred_at)
    select 'appointment', a.id, a.hospital_id, p.states[step.n - 1], step.state,
        case when step.state in ('in_consultation', 'completed')
            then a.doctor_user_id else a.booked_by end,
        (case
            when step.state in ('in_consultation', 'completed') then 'doctor'
            when a.booked_by is null and step.n = 1 then 'patient'
            else 'front_desk' end)::public.app_role,
        case when step.state = 'cancelled' then a.status_reason end,
        case
            when step.n = 1 then a.created_at
            when step.n = path.length then a.status_changed_at
            else least(a.starts_at + make_interval(mins => step.n::integer),
                a.status_changed_at - make_interval(secs => path.length - step.n::integer))
        end
    from public.appointments as a
    cross join lateral (
        select case
            when a.status = 'requested' then '{requested}'
            when a.status in ('completed', 'in_consultation') and a.mode <> 'in_person'
                then array_remove(
                    '{scheduled,in_consultation,completed}',
                    case when a.status = 'in_consultation' then 'completed' end
                )
            when a.status = 'completed'
                then '{scheduled,arrived,checked_in,in_consultation,completed}'
            when a.status = 'in_consultation' then '{scheduled,arrived,checked_in,in_consultation}'
            when a.status = 'checked_in' then '{scheduled,arrived,checked_in}'
            when a.status = 'arrived' then '{scheduled,arrived}'
            when a.status = 'scheduled' then '{scheduled}'
            else array['scheduled', a.status::text]
        end::text[] as states
    ) as p
    cross join lateral (select cardinality(p.states) as length) as path
    cross join lateral unnest(p.states) with ordinality as step (state, n)
    where a.hospital_id = any(%(hospitals)s)
    """,
]
