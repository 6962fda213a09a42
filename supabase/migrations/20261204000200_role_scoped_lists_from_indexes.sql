-- Each role's list answered by an index for that role (issue 12, item 3), on what the helpers
-- of 20261204000100 left: filters Postgres may not apply before a policy, and a per-row check.
--
-- Under row-level security Postgres applies a request's own filter before the policy only when
-- its operator is leakproof: `uuid =`, `text =` and timestamp comparisons are, `enum =` and
-- `ilike` are not. So `status=eq.pending` on prescriptions runs the policy on every prescription
-- of the pharmacy first (75,000 at the large size), and only then keeps the 440 pending ones.
-- A partial index per queue status holds only that status's rows (its predicate is implied by
-- the filter, which Postgres may use to choose it), so the policy runs on the queue alone.

-- The pharmacist's work queues: to review, to prepare, to hand over.
create index prescriptions_pending_queue_idx on public.prescriptions (pharmacy_id, issued_at)
where status = 'pending';
create index prescriptions_approved_queue_idx on public.prescriptions (pharmacy_id, issued_at)
where status = 'approved';
create index prescriptions_ready_queue_idx on public.prescriptions (pharmacy_id, issued_at)
where status = 'ready_for_pickup';

-- The front desk's patient list, page by page (keyset on registered_at, newest first): the
-- hospital's registrations in order, each patient embedded.
create index patient_registrations_hospital_registered_idx
on public.patient_registrations (hospital_id, registered_at);

-- A pharmacy receives its own hospital's prescriptions; a prescription sent to another
-- hospital's pharmacy needs the patient's consent. pharmacy_may_receive asks both through a
-- security definer call, some 20 microseconds a row. For the caller's own pharmacies the first
-- answer is cached with the other helpers ('pharmacy/hospital' pairs), so the common case costs
-- a comparison and only an external prescription calls pharmacy_may_receive.

-- security definer: reads the caller's pharmacies whatever their policies.
create function private.load_own_pharmacy_homes()
returns text[]
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    return private.access_cache_put(
        'own_pharmacy_homes',
        (
            select coalesce(array_agg(p.id || '/' || p.hospital_id), '{}')
            from public.pharmacies as p
            where p.id = any(private.own_pharmacy_ids())
        )::text
    )::text [];
end;
$$;

grant execute on function private.load_own_pharmacy_homes() to authenticated;

create function private.is_own_pharmacy_home(pharmacy uuid, hospital uuid)
returns boolean
language sql
stable
as $$
    select (pharmacy::pg_catalog.text operator(pg_catalog.||) '/' operator(pg_catalog.||) hospital::pg_catalog.text)
        operator(pg_catalog.=) any(coalesce(
            private.access_cache_get('own_pharmacy_homes')::pg_catalog.text [],
            private.load_own_pharmacy_homes()
        ))
$$;

comment on function private.is_own_pharmacy_home(uuid, uuid) is
'Inlined into the caller''s query. Whether this pharmacy is one of the caller''s and belongs to '
'this hospital (so it receives the hospital''s prescriptions without the patient''s consent).';

grant execute on function private.is_own_pharmacy_home(uuid, uuid) to authenticated;

create trigger forget_cached_access after insert or update or delete or truncate
on public.pharmacies for each statement execute function private.forget_cached_access();

alter policy prescriptions_select_pharmacy_patient_doctor_or_admin on public.prescriptions
using (
    (
        pharmacy_id = any(private.own_pharmacy_ids())
        and (
            private.is_own_pharmacy_home(pharmacy_id, hospital_id)
            or private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
        )
    )
    or patient_id = (select private.own_patient_id())
    or doctor_id = any(private.own_doctor_ids())
    or hospital_id = any(private.staff_hospital_ids('{hospital_admin}'))
);

alter policy prescriptions_update_pharmacy_patient_or_doctor on public.prescriptions
using (
    (
        pharmacy_id = any(private.own_pharmacy_ids())
        and (
            private.is_own_pharmacy_home(pharmacy_id, hospital_id)
            or private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
        )
    )
    or patient_id = (select private.own_patient_id())
    or doctor_id = any(private.own_doctor_ids())
)
with check (
    (
        pharmacy_id = any(private.own_pharmacy_ids())
        and (
            private.is_own_pharmacy_home(pharmacy_id, hospital_id)
            or private.pharmacy_may_receive(pharmacy_id, hospital_id, patient_id)
        )
    )
    or patient_id = (select private.own_patient_id())
    or doctor_id = any(private.own_doctor_ids())
);
