"""The consistency check after a load: what the bypassed triggers and foreign keys would have
refused, the overlaps the constraints forbid, and the audit chain."""

from __future__ import annotations

import time

from psycopg import sql

from seed import connection

# Foreign keys of the loaded schemas, each checked by an anti-join (triggers enforce them, and
# the triggers were off during the load).
FOREIGN_KEYS = """
    select c.conname, format('%I.%I', s.nspname, t.relname),
        (select format('%I.%I', ps.nspname, pt.relname) from pg_class as pt
            join pg_namespace as ps on ps.oid = pt.relnamespace where pt.oid = c.confrelid),
        array(select a.attname from unnest(c.conkey) with ordinality as k (n, i)
            join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i),
        array(select a.attname from unnest(c.confkey) with ordinality as k (n, i)
            join pg_attribute as a on a.attrelid = c.confrelid and a.attnum = k.n order by k.i)
    from pg_constraint as c
    join pg_class as t on t.oid = c.conrelid
    join pg_namespace as s on s.oid = t.relnamespace
    where c.contype = 'f' and s.nspname in ('public', 'private', 'auth') and not t.relispartition
    order by 2, 1
"""
RULES = {
    "live appointments of a doctor overlapping": """
        select count(*) from public.appointments as a
        join public.appointments as b on b.doctor_user_id = a.doctor_user_id and b.id > a.id
            and tstzrange(b.starts_at, b.ends_at) && tstzrange(a.starts_at, a.ends_at)
        where a.status not in ('cancelled', 'no_show') and b.status not in ('cancelled', 'no_show')
    """,
    "live appointments of a patient overlapping": """
        select count(*) from public.appointments as a
        join public.appointments as b on b.patient_id = a.patient_id and b.id > a.id
            and tstzrange(b.starts_at, b.ends_at) && tstzrange(a.starts_at, a.ends_at)
        where a.status not in ('cancelled', 'no_show') and b.status not in ('cancelled', 'no_show')
    """,
    "appointments whose patient is not registered at the hospital": """
        select count(*) from public.appointments as a
        where a.patient_id is not null and not exists (
            select from public.patient_registrations as r
            where r.patient_id = a.patient_id and r.hospital_id = a.hospital_id)
    """,
    "appointments whose doctor_user_id is not the doctor's login": """
        select count(*) from public.appointments as a
        join public.doctors as d on d.id = a.doctor_id
        where d.user_id <> a.doctor_user_id or d.hospital_id <> a.hospital_id
    """,
    "patients without a registration": """
        select count(*) from public.patients as p
        where not exists (select from public.patient_registrations as r where r.patient_id = p.id)
    """,
    "booked patients not on the doctor's care team": """
        select count(*) from (select distinct patient_id, hospital_id, doctor_user_id
            from public.appointments where patient_id is not null) as a
        where not exists (select from public.care_team_members as c
            where c.patient_id = a.patient_id and c.hospital_id = a.hospital_id
                and c.member_id = a.doctor_user_id)
    """,
    "status transitions the state machines do not allow": """
        select count(*) from public.status_history as h
        where not exists (select from private.state_transitions as t
            where t.machine = h.machine and t.from_state is not distinct from h.from_state
                and t.to_state = h.to_state)
    """,
    "current statuses that are not the last recorded transition": """
        select count(*) from (
            select a.id, a.status::text as status from public.appointments as a
            union all select p.id, p.status::text from public.prescriptions as p
            union all select l.id, l.status::text from public.leads as l
            union all select i.id, i.status::text from public.invoices as i
            union all select p.id, p.status::text from public.payments as p
        ) as s
        where s.status is distinct from (select h.to_state from public.status_history as h
            where h.subject_id = s.id order by h.occurred_at desc, h.from_state is null limit 1)
    """,
    "leads whose status changed at another time than their last recorded move": """
        select count(*) from public.leads as l
        where l.status_changed_at <> (select max(h.occurred_at) from public.status_history as h
            where h.machine = 'lead' and h.subject_id = l.id)
    """,
    "leads whose stages reached are not the states of their recorded moves": """
        select count(*) from public.leads as l
        cross join lateral (select array(select h.to_state from public.status_history as h
            where h.machine = 'lead' and h.subject_id = l.id) as moves) as m
        where not (l.stages_reached::text[] @> m.moves and m.moves @> l.stages_reached::text[])
    """,
    "CRO queue leads given to someone who is no CRO of their hospital": """
        select count(*) from public.leads as l
        where l.status = 'stalling_sent_to_cro' and l.assigned_to is not null
            and not exists (select from public.staff_memberships as m
                where m.user_id = l.assigned_to and m.hospital_id = l.hospital_id
                    and m.role = 'cro' and m.is_active)
    """,
    "prescriptions whose appointment is another patient's or hospital's": """
        select count(*) from public.prescriptions as p
        join public.appointments as a on a.id = p.appointment_id
        where a.patient_id <> p.patient_id or a.hospital_id <> p.hospital_id
    """,
    "prescription lines whose dispensed quantity is not the sum dispensed": """
        select count(*) from public.prescription_items as i
        where i.dispensed_quantity <> coalesce((select sum(d.quantity)
            from public.prescription_dispensings as d where d.prescription_item_id = i.id), 0)
    """,
    "open prescriptions lapsing within a day of the load, or expired ones still valid": """
        select count(*) from public.prescriptions as p
        where (p.status in ('pending', 'approved', 'ready_for_pickup')
                and p.valid_until < now() + interval '1 day')
            or (p.status = 'expired' and p.valid_until > now())
    """,
    "MRNs at or beyond their hospital's counter": """
        select count(*) from public.patient_registrations as r
        join public.hospitals as h on h.id = r.hospital_id
        where r.mrn like h.code || '-%' and not exists (
            select from private.mrn_counters as c where c.hospital_id = r.hospital_id
                and c.year = split_part(r.mrn, '-', 2)::integer
                and c.last_value >= split_part(r.mrn, '-', 3)::integer)
    """,
    "invoices whose totals or amount paid are not their lines' and payments'": """
        select count(*) from public.invoices as i
        cross join lateral (
            select coalesce(sum(l.line_total), 0) as total,
                coalesce(sum(l.insurer_share), 0) as insurer
            from public.invoice_lines as l where l.invoice_id = i.id
        ) as l
        where (i.total, i.insurer_total) is distinct from (l.total, l.insurer)
            or i.amount_paid <> (select coalesce(sum(p.amount - p.amount_refunded), 0)
                from public.payments as p where p.invoice_id = i.id and p.status = 'captured')
    """,
    "invoice and receipt numbers at or beyond their hospital's counter": """
        select count(*) from (
            select i.hospital_id, 'invoice' as series, i.fiscal_year, i.sequence_no as n
            from public.invoices as i where i.sequence_no is not null
            union all
            select p.hospital_id, 'receipt', p.fiscal_year, p.receipt_seq
            from public.payments as p where p.receipt_seq is not null
        ) as d
        where not exists (select from private.document_counters as c
            where c.hospital_id = d.hospital_id and c.series = d.series
                and c.fiscal_year = d.fiscal_year and c.last_value >= d.n)
    """,
    "encrypted values that do not decrypt (a sample of each column)": """
        select count(*) from (
            (select soap_encrypted as v from public.clinical_notes order by id limit 200)
            union all (select details from public.prescription_items order by id limit 200)
            union all (select notes from public.prescriptions where notes is not null
                order by id limit 200)
        ) as s
        where (select d.problem from private.try_decrypt_field(s.v) as d) is not null
    """,
    "message templates using undeclared or clinical variables": """
        select count(*) from public.message_templates as t
        where exists (
            select from unnest(private.template_placeholders(t.body)
                || private.template_placeholders(t.subject)) as p
            where not p = any(t.variables))
            or exists (select from unnest(t.variables) as v where private.clinical_variable(v))
    """,
    "outbound WhatsApp messages typed outside the 24-hour window": """
        select count(*) from public.messages as m
        left join public.message_templates as t on t.id = m.template_id
        where m.channel = 'whatsapp' and m.direction = 'outbound'
            and t.whatsapp_content_sid is null
            and not exists (select from public.messages as i
                where i.address = m.address and i.channel = 'whatsapp'
                    and i.direction = 'inbound' and i.created_at <= m.created_at
                    and i.created_at > m.created_at - interval '24 hours')
    """,
    "queued messages without their pending outbox row": """
        select count(*) from public.messages as m
        where m.status = 'queued' and not exists (select from private.outbox as o
            where o.kind = 'message' and o.subject_id = m.id and o.state = 'pending')
    """,
    "messages whose status times do not match their status": """
        select count(*) from public.messages as m
        where (m.status in ('sent', 'delivered', 'read', 'failed') and m.direction = 'outbound'
                and m.sent_at is null)
            or (m.status = 'delivered' and m.delivered_at is null)
            or (m.status = 'read' and m.read_at is null)
            or (m.status = 'failed' and (m.failed_at is null or m.status_reason is null))
            or (m.status in ('queued', 'cancelled') and m.sent_at is not null)
    """,
    "tickets whose status is not where their history ends": """
        select count(*) from public.tickets as t
        where t.status is distinct from (select h.to_state from public.status_history as h
            where h.machine = 'ticket' and h.subject_id = t.id
            order by h.occurred_at desc, h.from_state is null limit 1)
    """,
    "tickets resolved without resolution notes, or assigned to non-staff": """
        select count(*) from public.tickets as t
        where (t.status = 'resolved' and coalesce(btrim(t.resolution_notes), '') = '')
            or (t.assigned_to is not null
                and not private.is_active_staff_at(t.assigned_to, t.hospital_id))
    """,
    "journey instances whose current stage has no event in step with it": """
        select count(*) from public.journey_instances as i
        where i.current_stage_id is not null and not exists (
            select from public.journey_stage_events as e
            where e.instance_id = i.id and e.stage_id = i.current_stage_id
                and (i.status <> 'active' or e.completed_at is null)
                and (i.status <> 'completed' or e.completed_at is not null))
    """,
    "staff without a hashed password": """
        select count(*) from public.staff_memberships as m
        join auth.users as u on u.id = m.user_id
        where u.encrypted_password is null or u.encrypted_password not like '$2%'
    """,
    "patient accounts whose phone login is not the patient's phone": """
        select count(*) from public.patients as p
        join auth.users as u on u.id = p.user_id
        where u.phone is distinct from ltrim(p.phone, '+')
    """,
}


def run(database_url: str) -> list[tuple[str, int, float]]:
    """Every check as (what, problems found, seconds); none found means the data is sound."""
    results = []
    with connection.connect(database_url) as conn:
        conn.execute("set statement_timeout = 0")
        for name, child, parent, columns, referenced in conn.execute(FOREIGN_KEYS).fetchall():
            started = time.monotonic()
            query = sql.SQL(
                "select count(*) from {child} as c where {not_null} and not exists "
                "(select from {parent} as p where {match})"
            ).format(
                child=sql.SQL(child),
                parent=sql.SQL(parent),
                not_null=sql.SQL(" and ").join(
                    sql.SQL("c.{} is not null").format(sql.Identifier(c)) for c in columns
                ),
                match=sql.SQL(" and ").join(
                    sql.SQL("p.{} = c.{}").format(sql.Identifier(r), sql.Identifier(c))
                    for c, r in zip(columns, referenced, strict=True)
                ),
            )
            (count,) = conn.execute(query).fetchone()
            results.append((f"foreign key {child}.{name}", count, time.monotonic() - started))
        for what, query in RULES.items():
            started = time.monotonic()
            (count,) = conn.execute(query).fetchone()
            results.append((what, count, time.monotonic() - started))
        started = time.monotonic()
        valid, checked, bad, problem = conn.execute(
            "select * from public.verify_audit_chain()"
        ).fetchone()
        results.append(
            (
                f"audit chain ({checked} entries){'' if valid else f': row {bad}: {problem}'}",
                0 if valid else 1,
                time.monotonic() - started,
            )
        )
        conn.rollback()
    return results
