"""Notifications (the outbox the triggers would have filled) and the audit trail of the load.

Made set-based after the load, for the generated hospitals (%(hospitals)s) at the moment the
data is made for (%(now)s). Notifications of appointments that ended more than a week before
are left out: delivered long ago, nobody reads them, and there would be millions.
"""

from __future__ import annotations

DERIVED = [
    # private.notify_appointment_change: booked (patient by SMS, no app login; doctor by push),
    # cancelled, and the reminder still waiting for its time (24 h before, else 2 h, else none).
    """
    insert into private.outbox
        (kind, subject_type, subject_id, hospital_id, recipient_kind, recipient_id, channel,
         payload, state, deliver_after, attempts, created_at, updated_at, sent_at)
    select n.kind, 'appointment', a.id, a.hospital_id, r.recipient_kind, r.recipient_id, r.channel,
        jsonb_build_object('appointment_id', a.id, 'doctor_id', a.doctor_id,
            'starts_at', a.starts_at,
            'ends_at', a.ends_at, 'mode', a.mode, 'status', a.status)
            || case when n.kind = 'appointment_cancelled'
                then jsonb_build_object('reason', a.status_reason) else '{}' end,
        case when n.at <= %(now)s then 'sent' else 'pending' end, n.at,
        case when n.at <= %(now)s then 1 else 0 end, n.made, n.made,
        case when n.at <= %(now)s then n.at end
    from public.appointments as a
    cross join lateral (
        values ('appointment_booked', a.created_at, a.created_at),
            ('appointment_cancelled', case when a.status = 'cancelled' then a.status_changed_at end,
             a.status_changed_at)
    ) as n (kind, at, made)
    cross join lateral (
        values ('patient', a.patient_id, 'sms'), ('user', a.doctor_user_id, 'push')
    ) as r (recipient_kind, recipient_id, channel)
    where a.hospital_id = any(%(hospitals)s)
        and a.ends_at > %(now)s::timestamptz - interval '7 days'
        and n.at is not null
    union all
    select 'appointment_reminder', 'appointment', a.id, a.hospital_id, 'patient', a.patient_id,
        'sms',
        jsonb_build_object('appointment_id', a.id, 'doctor_id', a.doctor_id,
            'starts_at', a.starts_at,
            'ends_at', a.ends_at, 'mode', a.mode, 'status', a.status),
        'pending', due.at, 0, a.created_at, a.created_at, null
    from public.appointments as a
    cross join lateral (
        select private.appointment_reminder_due(a.starts_at, %(now)s) as at
    ) as due
    where a.hospital_id = any(%(hospitals)s) and a.status = 'scheduled'
        and a.starts_at > %(now)s and due.at is not null
    """,
]
DERIVED_AFTER_PRESCRIPTIONS = [
    # private.notify_prescription_change for the last week's prescriptions, and
    # private.notify_critical_lab_result for every critical result (to the doctor who ordered).
    """
    insert into private.outbox
        (kind, subject_type, subject_id, hospital_id, recipient_kind, recipient_id, channel,
         payload, state, deliver_after, attempts, created_at, updated_at, sent_at)
    select 'prescription_issued', 'prescription', p.id, p.hospital_id, r.recipient_kind,
        r.recipient_id, r.channel,
        jsonb_build_object('prescription_id', p.id, 'status', 'pending',
            'pharmacy_id', p.pharmacy_id,
            'doctor_id', p.doctor_id),
        'sent', p.issued_at, 1, p.issued_at, p.issued_at, p.issued_at
    from public.prescriptions as p
    cross join lateral (
        values ('patient', p.patient_id, 'sms'), ('pharmacy', p.pharmacy_id, 'push')
    ) as r (recipient_kind, recipient_id, channel)
    where p.hospital_id = any(%(hospitals)s)
        and p.issued_at > %(now)s::timestamptz - interval '7 days'
    union all
    select 'lab_result_critical', 'lab_result', l.id, l.hospital_id, 'user', l.ordered_by, 'push',
        jsonb_build_object('lab_result_id', l.id, 'patient_id', l.patient_id),
        case when l.finalised_at > %(now)s::timestamptz - interval '1 day'
            then 'pending' else 'sent' end,
        l.created_at, 0, l.created_at, l.created_at, null
    from public.lab_results as l
    where l.hospital_id = any(%(hospitals)s) and l.status = 'critical'
    """,
]
