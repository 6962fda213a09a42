"""The fertility front office of the generated hospitals (seed 004): their lead form's lists and
their CROs' rotation, which the triggers on hospitals and staff_memberships would have made."""

from __future__ import annotations

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
