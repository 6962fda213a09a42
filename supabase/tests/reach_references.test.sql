-- Reference reach, generated from the catalog (issue 10): every write that points at another
-- row must point only at rows the caller may reach. Knowing a UUID grants nothing.
--
-- For every public table the API roles may insert into, a template row that one user of
-- hospital TSTA may legitimately write (the control, which must succeed). Then, for each of the
-- table's foreign keys (read from pg_constraint, so a new table or reference is covered):
-- the same row pointing at the corresponding row of TSTB, and of TSTC, a deactivated hospital,
-- attempted by every role of TSTA, must be refused and leave nothing. A reference to a person
-- (created_by, recorded_by, user_id...) is always attempted, even when the template leaves it
-- to its default, since forging it is the attack. Columns the API may UPDATE that hold a
-- reference get the same treatment. The control is also refused when its author's membership
-- is revoked, or their hospital deactivated.
--
-- RPCs likewise: every function the API roles may execute that takes a reference argument
-- (an argument named like one, see reach_argument_targets) has a template call that must
-- answer for its TSTA user, and answer nothing (an error, null or an empty set) and write
-- nothing when one reference is swapped for TSTB's or TSTC's.
--
-- A table or RPC without a template fails the completeness checks at the end: write one.
begin;
select no_plan();

select tests.create_world();

-- Fixtures ------------------------------------------------------------------------------------
-- TSTC, soon deactivated, with one of everything; a second hospital-side row of everything at
-- TSTB and TSTA; people not yet staff for the staff tables.
create function pg_temp.fixture(kind text, name text, id uuid)
returns uuid
language sql
as $$
    insert into tests.world (kind, name, id) values (fixture.kind, fixture.name, fixture.id) returning id;
$$;

with h as (
    insert into public.hospitals (code, name, city, state, phone, email)
    values ('TSTC', 'Test Hospital C', 'Nabha', 'Punjab', '+911765000001', 'c@hospital.test')
    returning id
)

select pg_temp.fixture('hospitals', 'TSTC', h.id) from h;
select pg_temp.fixture('profiles', n, tests.create_user(n))
from unnest(
    array['c_admin', 'c_doctor', 'c_pharmacist', 'c_patient5', 'a_new_doctor', 'a_new_pharmacist', 'a_new_staff']
) as n;
insert into public.staff_memberships (user_id, hospital_id, role)
values
(tests.user_id('c_admin'), tests.id_of('hospitals', 'TSTC'), 'hospital_admin'),
(tests.user_id('c_doctor'), tests.id_of('hospitals', 'TSTC'), 'doctor'),
(tests.user_id('c_pharmacist'), tests.id_of('hospitals', 'TSTC'), 'pharmacist'),
(tests.user_id('a_new_doctor'), tests.id_of('hospitals', 'TSTA'), 'doctor'),
(tests.user_id('a_new_pharmacist'), tests.id_of('hospitals', 'TSTA'), 'pharmacist');
select pg_temp.fixture('staff_memberships', m.name, m.id)
from (
    select
        'c_admin' as name,
        m.id
    from public.staff_memberships as m
    where m.user_id = tests.user_id('c_admin')
) as m;
with d as (
    insert into public.doctors (user_id, hospital_id, specialty, licence_number)
    values (tests.user_id('c_doctor'), tests.id_of('hospitals', 'TSTC'), 'General Medicine', 'PMC-C-5001')
    returning id
)

select pg_temp.fixture('doctors', 'c_doctor', d.id) from d;
with p as (
    insert into public.pharmacies (hospital_id, name, is_default)
    values (tests.id_of('hospitals', 'TSTC'), 'TSTC Central Pharmacy', true)
    returning id
)

select pg_temp.fixture('pharmacies', 'c_central', p.id) from p;
with p as (
    insert into public.patients (user_id, full_name, phone)
    values (tests.user_id('c_patient5'), 'Kulwant Kaur', '+919800050005')
    returning id
)

select pg_temp.fixture('patients', 'c_patient5', p.id) from p;
with ph as (
    insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
    values (
        tests.user_id('c_pharmacist'),
        tests.id_of('hospitals', 'TSTC'),
        tests.id_of('pharmacies', 'c_central'),
        'PCI-C-5002'
    )
    returning id
)

select pg_temp.fixture('pharmacists', 'c_pharmacist', ph.id) from ph;
insert into public.patient_registrations (patient_id, hospital_id, mrn)
values (tests.id_of('patients', 'c_patient5'), tests.id_of('hospitals', 'TSTC'), 'TSTC-T0005');
select pg_temp.fixture('patient_registrations', 'c_patient5@TSTC', r.id)
from public.patient_registrations as r
where r.patient_id = tests.id_of('patients', 'c_patient5');

-- Per hospital: a consent document, two appointments, an encounter, a signed note, a document,
-- a prescription with an item, an identifier. Named <side>_<what> (a, b, c).
create function pg_temp.hospital_rows(
    side text, hospital text, doctor text, patient text, pharmacy text, admin_of text
)
returns void
language plpgsql
as $$
declare
    h uuid := tests.id_of('hospitals', hospital);
    d uuid := tests.id_of('doctors', doctor);
    p uuid := tests.id_of('patients', patient);
    doctor_user uuid := tests.user_id(doctor);
    row_id uuid;
    action uuid;
    confirmed uuid;
    service uuid;
    completed uuid;
    invoice uuid;
    draft uuid;
    payment uuid;
begin
    insert into public.consent_documents (hospital_id, purpose, version, title, body)
    values (h, 'contact_email', 1, 'Email', 'You may email me.') returning id into row_id;
    perform pg_temp.fixture('consent_documents', side || '_consent_email', row_id);
    for i in 1..2 loop
        insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
        values (h, d, p, now() + make_interval(days => 20 + i), now() + make_interval(days => 20 + i, mins => 20), 'web')
        returning id into row_id;
        perform pg_temp.fixture('appointments', side || '_appointment' || i, row_id);
    end loop;
    insert into public.encounters (patient_id, hospital_id, appointment_id, clinician_id)
    values (p, h, tests.id_of('appointments', side || '_appointment1'), doctor_user) returning id into row_id;
    perform pg_temp.fixture('encounters', side || '_encounter', row_id);
    insert into public.clinical_notes (patient_id, hospital_id, author_id, soap_encrypted)
    values (p, h, doctor_user, private.encrypt_field('{"assessment": "fixture"}')) returning id into row_id;
    update public.clinical_notes set status = 'signed' where id = row_id;
    perform pg_temp.fixture('clinical_notes', side || '_note', row_id);
    insert into public.clinical_notes (patient_id, hospital_id, author_id, soap_encrypted)
    values (p, h, doctor_user, private.encrypt_field('{"assessment": "draft"}')) returning id into row_id;
    perform pg_temp.fixture('clinical_notes', side || '_draft', row_id);
    -- A signed medical record with a diagnosis (written before signing).
    insert into public.encounters (patient_id, hospital_id, clinician_id)
    values (p, h, doctor_user) returning id into row_id;
    perform pg_temp.fixture('encounters', side || '_signed_encounter', row_id);
    insert into public.diagnoses (patient_id, hospital_id, encounter_id, icd10_code, description, diagnosed_by)
    values (p, h, row_id, 'I10', 'Hypertension', doctor_user) returning id into action;
    perform pg_temp.fixture('diagnoses', side || '_diagnosis', action);
    insert into public.clinical_notes (patient_id, hospital_id, encounter_id, author_id, soap_encrypted)
    values (p, h, row_id, doctor_user, private.encrypt_field('{"assessment": "signed record"}')) returning id into row_id;
    update public.clinical_notes set status = 'signed' where id = row_id;
    insert into public.patient_documents (patient_id, hospital_id, name, document_type, storage_path, uploaded_by)
    values (p, h, 'Report', 'lab_report', 'patients/' || p || '/' || side || '-report.pdf', doctor_user)
    returning id into row_id;
    perform pg_temp.fixture('patient_documents', side || '_document', row_id);
    insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id)
    values (h, p, d, tests.id_of('pharmacies', pharmacy)) returning id into row_id;
    perform pg_temp.fixture('prescriptions', side || '_prescription', row_id);
    insert into public.prescription_items (prescription_id, line_no, details, quantity)
    values (row_id, 1, private.encrypt_field('{"name": "Metformin"}'), 30) returning id into row_id;
    perform pg_temp.fixture('prescription_items', side || '_item', row_id);
    insert into public.patient_identifiers (patient_id, kind, value_encrypted, blind_index, last4)
    values (
        p, 'ssn', private.encrypt_field(side || '23456789'), private.blind_index('ssn', side || '23456789'), '6789'
    ) returning id into row_id;
    perform pg_temp.fixture('patient_identifiers', side || '_identifier', row_id);
    insert into private.outbox (kind, subject_type, subject_id, hospital_id, recipient_kind, recipient_id, channel, state)
    values ('appointment_booked', 'appointment', tests.id_of('appointments', side || '_appointment1'), h, 'user',
        doctor_user, 'push', 'dead')
    returning id into row_id;
    perform pg_temp.fixture('notifications', side || '_dead', row_id);
    insert into private.webhook_inbox (provider, event_key, hospital_id, payload, body_sha256, outcome, reason)
    values ('calcom', 'reach:' || side, h, '{"unparsed": "x"}', 'reach', 'unprocessable', 'malformed_json')
    returning id into row_id;
    perform pg_temp.fixture('webhook_inbox', side || '_inbox', row_id);
    insert into public.calendar_sync_flags (hospital_id, provider, kind, external_ref)
    values (h, 'calcom', 'clash', 'reach-flag-' || side)
    returning id into row_id;
    perform pg_temp.fixture('calendar_sync_flags', side || '_flag', row_id);
    -- A call from a number the front desk must attribute (the patient's own, for the template).
    insert into public.ai_sessions (channel, hospital_id, external_id, caller_phone, call_status, attention)
    values ('voice', h, side || '-call', (select pt.phone from public.patients as pt where pt.id = p), 'ended', 'shared_number')
    returning id into row_id;
    perform pg_temp.fixture('ai_sessions', side || '_voice_session', row_id);
    insert into public.tickets (hospital_id, patient_id, title) values (h, p, 'Reach ' || side)
    returning id into row_id;
    perform pg_temp.fixture('tickets', side || '_ticket', row_id);
    insert into public.message_templates (hospital_id, code, name, channel, body)
    values (h, 'reach', 'Reach', 'sms', 'Hello') returning id into row_id;
    perform pg_temp.fixture('message_templates', side || '_template', row_id);
    -- A patient's WhatsApp message to the hospital, unread.
    insert into public.messages (hospital_id, patient_id, channel, direction, address, body, status)
    select h, p, 'whatsapp', 'inbound', pt.phone, 'Reach message ' || side, 'received'
    from public.patients as pt where pt.id = p
    returning id into row_id;
    perform pg_temp.fixture('messages', side || '_message', row_id);
    -- A journey with two stages, and the patient on it.
    perform tests.act_as(admin_of);
    confirmed := (public.create_journey(h, 'Reach journey 2', stages => '[{"name": "One"}]') ->> 'id')::uuid;
    row_id := (
        public.create_journey(h, 'Reach journey', stages => '[{"name": "One", "due_days": 1}, {"name": "Two"}]') ->> 'id'
    )::uuid;
    action := (public.start_journey_instance(row_id, p)).id;
    perform tests.clear_authentication();
    perform pg_temp.fixture('journeys', side || '_journey_unused', confirmed);
    perform pg_temp.fixture('journeys', side || '_journey', row_id);
    perform pg_temp.fixture('journey_stages', side || '_stage', (
        select s.id from public.journey_stages as s where s.journey_id = row_id and s.position = 1
    ));
    perform pg_temp.fixture('journey_instances', side || '_instance', action);
    insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone)
    values (h, 'pn-reach-' || side, '+9117655001' || length(side) || ascii(side) % 10);
    -- The doctor's copilot session there, with an action waiting and one confirmed.
    perform tests.act_as(doctor);
    row_id := (public.copilot_open_session(h) ->> 'id')::uuid;
    action := (public.copilot_propose_action(row_id, 'cancel_appointment', '{}', 'Cancel the visit') ->> 'id')::uuid;
    confirmed := (public.copilot_propose_action(row_id, 'cancel_appointment', '{}', 'Cancel') ->> 'id')::uuid;
    perform public.copilot_decide_action(confirmed, 'confirm');
    perform tests.clear_authentication();
    perform pg_temp.fixture('ai_sessions', side || '_copilot_session', row_id);
    perform pg_temp.fixture('ai_pending_actions', side || '_action', action);
    perform pg_temp.fixture('ai_pending_actions', side || '_confirmed_action', confirmed);
    -- A lead in the CRO queue, entered by the website form (the system).
    insert into public.leads (hospital_id, full_name, phone, source, created_via)
    values (h, 'Reach Lead ' || side, '+9198111000' || ascii(side) % 100, 'Website', 'website')
    returning id into row_id;
    update public.leads set status = 'stalling_sent_to_cro' where id = row_id;
    perform pg_temp.fixture('leads', side || '_lead', row_id);
    -- Billing: a catalogue service, a completed visit, an issued invoice with a counter payment,
    -- a draft.
    insert into public.billing_services (hospital_id, code, name, hsn_sac, unit_price, appointment_type)
    values (h, 'CONSULT', 'Consultation', '999312', 500, 'consultation') returning id into service;
    insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at, source)
    values (h, d, p, now() - interval '3 days', now() - interval '3 days' + interval '20 minutes', 'web')
    returning id into completed;
    update public.appointments set status = 'in_consultation' where id = completed;
    update public.appointments set status = 'completed' where id = completed;
    perform tests.act_as(side || '_admin');
    insert into public.invoices (hospital_id, patient_id) values (h, p) returning id into invoice;
    insert into public.invoice_lines (invoice_id, service_id, quantity) values (invoice, service, 2);
    perform public.issue_invoice(invoice);
    payment := (public.record_payment(invoice, 100, 'cash')).id;
    insert into public.invoices (hospital_id, patient_id) values (h, p) returning id into draft;
    insert into public.invoice_lines (invoice_id, service_id) values (draft, service);
    perform tests.clear_authentication();
    perform pg_temp.fixture('billing_services', side || '_service', service);
    perform pg_temp.fixture('appointments', side || '_completed', completed);
    perform pg_temp.fixture('invoices', side || '_invoice', invoice);
    perform pg_temp.fixture('invoices', side || '_draft_invoice', draft);
    perform pg_temp.fixture('payments', side || '_payment', payment);
    insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
    values (p, h, doctor_user, 'ECG', 'Resting ECG') returning id into row_id;
    perform pg_temp.fixture('radiology_scans', side || '_scan', row_id);
    -- An acquired scan with a completed analysis awaiting review.
    insert into public.radiology_scans (patient_id, hospital_id, ordered_by, modality, study_type)
    values (p, h, doctor_user, 'ECG', 'Holter') returning id into confirmed;
    update public.radiology_scans set status = 'acquired' where id = confirmed;
    perform pg_temp.fixture('radiology_scans', side || '_acquired_scan', confirmed);
    insert into public.cdss_analyses (scan_id, patient_id, hospital_id, requested_by, analysis_type)
    values (confirmed, p, h, doctor_user, 'ecg_arrhythmia') returning id into row_id;
    update public.cdss_analyses set status = 'running' where id = row_id;
    update public.cdss_analyses set
        status = 'completed', model_name = 'reach', inputs_sha256 = repeat('0', 64), severity = 'low',
        result_encrypted = private.encrypt_field('{"findings": []}'), completed_at = now()
    where id = row_id;
    perform pg_temp.fixture('cdss_analyses', side || '_analysis', row_id);
end;
$$;

select pg_temp.hospital_rows('a', 'TSTA', 'a_doctor', 'a_patient1', 'a_central', 'a_admin');
select pg_temp.hospital_rows('b', 'TSTB', 'b_doctor', 'b_patient3', 'b_central', 'b_admin');
select pg_temp.hospital_rows('c', 'TSTC', 'c_doctor', 'c_patient5', 'c_central', 'c_admin');
-- An approved prescription of A, to dispense from.
with approved as (
    insert into public.prescriptions (hospital_id, patient_id, doctor_id, pharmacy_id, status)
    values (
        tests.id_of('hospitals', 'TSTA'), tests.id_of('patients', 'a_patient1'), tests.id_of('doctors', 'a_doctor'),
        tests.id_of('pharmacies', 'a_central'), 'pending'
    )
    returning id
),

item as (
    insert into public.prescription_items (prescription_id, line_no, details, quantity)
    select
        id,
        1,
        private.encrypt_field('{"name": "Paracetamol"}'),
        20
    from approved
    returning id
)

select pg_temp.fixture('prescription_items', 'a_item_approved', id) from item;
update public.prescriptions set status = 'approved'
where
    id = (
        select i.prescription_id from public.prescription_items as i
        where i.id = tests.id_of('prescription_items', 'a_item_approved')
    );
-- An open invitation per hospital, each to a login that may accept it.
create function pg_temp.invitation(side text, admin text, invitee text, hospital text)
returns void
language plpgsql
as $$
declare
    made uuid;
begin
    perform tests.act_as(admin);
    made := (public.invite_staff(tests.id_of('hospitals', hospital), invitee || '@test.carebase', 'nurse')).id;
    perform tests.clear_authentication();
    perform pg_temp.fixture('staff_invitations', side || '_invitation', made);
end;
$$;
select pg_temp.fixture('profiles', n, tests.create_user(n)) from unnest(array['b_invitee', 'c_invitee']) as n;
select pg_temp.invitation('a', 'a_admin', 'a_new_staff', 'TSTA');
select pg_temp.invitation('b', 'b_admin', 'b_invitee', 'TSTB');
select pg_temp.invitation('c', 'c_admin', 'c_invitee', 'TSTC');
-- Per hospital, two records of one person merged by its admin (a merge to unmerge), and at A
-- two more to merge.
create function pg_temp.merge_pair(side text, admin text, hospital text, name text)
returns uuid
language plpgsql
as $$
declare
    pair uuid[];
    made uuid;
begin
    with p as (
        insert into public.patients (full_name) values (name), (name) returning id
    ),
    r as (
        insert into public.patient_registrations (patient_id, hospital_id)
        select p.id, tests.id_of('hospitals', hospital) from p
        returning patient_id
    )
    select array_agg(r.patient_id order by r.patient_id) into pair from r;
    perform pg_temp.fixture('patients', side || '_merge_source', pair[1]);
    perform pg_temp.fixture('patients', side || '_merge_target', pair[2]);
    if admin is null then
        return null;
    end if;
    perform tests.act_as(admin);
    made := (public.merge_patients(pair[1], pair[2], 'reach fixture')).id;
    perform tests.clear_authentication();
    perform pg_temp.fixture('patient_merges', side || '_merge', made);
    return made;
end;
$$;
select pg_temp.merge_pair('a', 'a_admin', 'TSTA', 'Merged Twice');
select pg_temp.merge_pair('b', 'b_admin', 'TSTB', 'Merged Twice');
select pg_temp.merge_pair('c', 'c_admin', 'TSTC', 'Merged Twice');
select pg_temp.merge_pair('a_open', null, 'TSTA', 'Registered Twice');
update public.hospitals set is_active = false
where id = tests.id_of('hospitals', 'TSTC');

-- What the read RPCs answer with at A: working hours, a standing pharmacy choice.
insert into public.doctor_working_hours (doctor_id, hospital_id, weekday, starts_at, ends_at)
select
    tests.id_of('doctors', d),
    tests.id_of('hospitals', h),
    w,
    '09:00',
    '17:00'
from (values ('a_doctor', 'TSTA'), ('b_doctor', 'TSTB'), ('c_doctor', 'TSTC')) as x (d, h), generate_series(1, 7) as w;
insert into public.patient_pharmacy_choices (patient_id, hospital_id, pharmacy_id)
values (
    tests.id_of('patients', 'a_patient2'), tests.id_of('hospitals', 'TSTA'), tests.id_of('pharmacies', 'a_central')
);

-- A code b_patient3 issued in their app; a consent a_patient1 gave; a locked login.
create temporary table reach_code as
select (private.issue_registration_code() ->> 'code') as code
from (select tests.act_as('b_patient3')) as acting;
select tests.clear_authentication();
grant select on reach_code to authenticated;
insert into public.consent_events (patient_id, hospital_id, document_id, action)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
    tests.id_of('consent_documents', 'a_consent_email'), 'granted'
);
insert into private.login_attempts (user_id, failed_count, last_failed_at, locked_until)
values (tests.user_id('a_doctor2'), 5, now(), now() + interval '15 minutes');

-- A provisioning grant a_admin began, and the login the sidecar then created for it.
create temporary table reach_grant as
select
    public.begin_doctor_provisioning(
        tests.id_of('hospitals', 'TSTA'), 'reach_login@test.carebase', 'Reach Login', 'Cardiology', 'PMC-A-8003'
    ) as grant_id
from (select tests.act_as('a_admin')) as acting;
select tests.clear_authentication();
grant select on reach_grant to authenticated;
select pg_temp.fixture('profiles', 'reach_login', tests.create_user('reach_login'));
update auth.users set
    raw_app_meta_data = raw_app_meta_data || jsonb_build_object('provisioning_grant', (
        select grant_id from reach_grant
    ))
where id = tests.user_id('reach_login');

-- A lead of A who looks like a_patient1 (the same name, phone and sex).
insert into public.leads (hospital_id, full_name, phone, sex, source)
values (tests.id_of('hospitals', 'TSTA'), 'Gurmeet Singh', '+919800010001', 'male', 'Walk-In');
select pg_temp.fixture('leads', 'a_lead_like_patient1', l.id)
from public.leads as l
where l.phone = '+919800010001' and l.hospital_id = tests.id_of('hospitals', 'TSTA');

-- A person the front desk of A creates in this transaction, who may be registered.
select pg_temp.fixture('patients', 'a_new_person', gen_random_uuid());
select tests.act_as('a_front_desk');
insert into public.patients (id, full_name) values (tests.id_of('patients', 'a_new_person'), 'New Person');
select tests.clear_authentication();

-- The side's row that a reference to each table points at.
create temporary table reach_targets (target regclass, side text, kind text, name text, primary key (target, side));
insert into reach_targets (target, side, kind, name)
select
    t.target::regclass,
    t.side,
    coalesce(t.kind, split_part(t.target, '.', 2)),
    t.name
from (
    values
    ('public.hospitals', 'b', null, 'TSTB'), ('public.hospitals', 'c', null, 'TSTC'),
    ('public.patients', 'b', null, 'b_patient3'), ('public.patients', 'c', null, 'c_patient5'),
    ('public.patient_registrations', 'b', null, 'b_patient3@TSTB'),
    ('public.patient_registrations', 'c', null, 'c_patient5@TSTC'),
    ('public.doctors', 'b', null, 'b_doctor'), ('public.doctors', 'c', null, 'c_doctor'),
    ('public.staff_memberships', 'b', null, 'b_doctor'), ('public.staff_memberships', 'c', null, 'c_admin'),
    ('public.pharmacies', 'b', null, 'b_central'), ('public.pharmacies', 'c', null, 'c_central'),
    ('public.profiles', 'b', null, 'b_front_desk'), ('public.profiles', 'c', null, 'c_admin'),
    ('auth.users', 'b', 'profiles', 'b_front_desk'), ('auth.users', 'c', 'profiles', 'c_admin'),
    ('public.consent_documents', 'b', null, 'b_consent_email'),
    ('public.consent_documents', 'c', null, 'c_consent_email'),
    ('public.appointments', 'b', null, 'b_appointment2'), ('public.appointments', 'c', null, 'c_appointment2'),
    ('public.encounters', 'b', null, 'b_encounter'), ('public.encounters', 'c', null, 'c_encounter'),
    ('public.clinical_notes', 'b', null, 'b_note'), ('public.clinical_notes', 'c', null, 'c_note'),
    ('public.diagnoses', 'b', null, 'b_diagnosis'), ('public.diagnoses', 'c', null, 'c_diagnosis'),
    ('public.patient_documents', 'b', null, 'b_document'), ('public.patient_documents', 'c', null, 'c_document'),
    ('public.prescriptions', 'b', null, 'b_prescription'), ('public.prescriptions', 'c', null, 'c_prescription'),
    ('public.prescription_items', 'b', null, 'b_item'), ('public.prescription_items', 'c', null, 'c_item'),
    ('public.patient_identifiers', 'b', null, 'b_identifier'),
    ('public.patient_identifiers', 'c', null, 'c_identifier'),
    ('public.pharmacists', 'b', null, 'b_pharmacist'), ('public.pharmacists', 'c', null, 'c_pharmacist'),
    ('private.outbox', 'b', 'notifications', 'b_dead'), ('private.outbox', 'c', 'notifications', 'c_dead'),
    ('private.webhook_inbox', 'b', null, 'b_inbox'), ('private.webhook_inbox', 'c', null, 'c_inbox'),
    ('public.calendar_sync_flags', 'b', null, 'b_flag'), ('public.calendar_sync_flags', 'c', null, 'c_flag'),
    ('public.staff_invitations', 'b', null, 'b_invitation'), ('public.staff_invitations', 'c', null, 'c_invitation'),
    ('public.patient_merges', 'b', null, 'b_merge'), ('public.patient_merges', 'c', null, 'c_merge'),
    ('public.ai_sessions', 'b', null, 'b_voice_session'), ('public.ai_sessions', 'c', null, 'c_voice_session'),
    ('public.ai_pending_actions', 'b', null, 'b_action'), ('public.ai_pending_actions', 'c', null, 'c_action'),
    ('public.leads', 'b', null, 'b_lead'), ('public.leads', 'c', null, 'c_lead'),
    ('public.billing_services', 'b', null, 'b_service'), ('public.billing_services', 'c', null, 'c_service'),
    ('public.invoices', 'b', null, 'b_invoice'), ('public.invoices', 'c', null, 'c_invoice'),
    ('public.payments', 'b', null, 'b_payment'), ('public.payments', 'c', null, 'c_payment'),
    ('public.tickets', 'b', null, 'b_ticket'), ('public.tickets', 'c', null, 'c_ticket'),
    ('public.message_templates', 'b', null, 'b_template'), ('public.message_templates', 'c', null, 'c_template'),
    ('public.messages', 'b', null, 'b_message'), ('public.messages', 'c', null, 'c_message'),
    ('public.journeys', 'b', null, 'b_journey'), ('public.journeys', 'c', null, 'c_journey'),
    ('public.journey_stages', 'b', null, 'b_stage'), ('public.journey_stages', 'c', null, 'c_stage'),
    ('public.journey_instances', 'b', null, 'b_instance'), ('public.journey_instances', 'c', null, 'c_instance'),
    ('public.radiology_scans', 'b', null, 'b_scan'), ('public.radiology_scans', 'c', null, 'c_scan'),
    ('public.cdss_analyses', 'b', null, 'b_analysis'), ('public.cdss_analyses', 'c', null, 'c_analysis')
) as t (target, side, kind, name);

-- References that point at another hospital by design (side b), or even a closed one (c).
create temporary table reach_by_design (table_name regclass, column_name text, side text, why text);
insert into reach_by_design
values
('public.record_shares', 'target_hospital_id', 'b', 'a share names the hospital it is shared with'),
('public.record_shares', 'target_hospital_id', 'c', 'a share names the hospital it is shared with'),
(
    'public.patient_pharmacy_choices', 'pharmacy_id', 'b',
    'a patient may choose any active pharmacy; routing there needs their external_pharmacy consent'
);

-- The column values of the side's row for a foreign key's referenced columns, keyed by the
-- referencing columns.
create function pg_temp.foreign_values(fk oid, side text)
returns jsonb
language plpgsql
as $$
declare
    k pg_catalog.pg_constraint;
    target_row jsonb;
    result jsonb := '{}';
begin
    select * into k from pg_catalog.pg_constraint where oid = fk;
    execute format(
        'select to_jsonb(t) from %s as t where t.id = $1', k.confrelid::regclass
    ) into target_row using (
        select tests.id_of(r.kind, r.name) from reach_targets as r
        where r.target = k.confrelid and r.side = foreign_values.side
    );
    if target_row is null then
        raise exception 'reach: no % row of side % for %', k.confrelid::regclass, side, k.conname;
    end if;
    for i in 1..cardinality(k.conkey) loop
        result := result || jsonb_build_object(
            (select attname from pg_catalog.pg_attribute where attrelid = k.conrelid and attnum = k.conkey[i]),
            target_row -> (select attname::text from pg_catalog.pg_attribute where attrelid = k.confrelid and attnum = k.confkey[i])
        );
    end loop;
    return result;
end;
$$;

-- Table templates: a row the actor may write (references to TSTA's rows; every optional
-- reference filled in, so that it is attempted too).
create temporary table reach_templates (table_name regclass primary key, actor text not null, template jsonb not null);
create function pg_temp.a(kind text, name text) returns uuid language sql as $$ select tests.id_of(kind, name) $$;
insert into reach_templates (table_name, actor, template)
values
(
    'public.billing_services', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'code', 'REACH', 'name', 'Reach service',
        'hsn_sac', '999312', 'unit_price', 100
    )
),
(
    'public.invoices', 'a_front_desk', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'appointment_id', pg_temp.a('appointments', 'a_completed')
    )
),
(
    'public.invoice_lines', 'a_front_desk', jsonb_build_object(
        'invoice_id',
        pg_temp.a('invoices', 'a_draft_invoice'),
        'service_id',
        pg_temp.a('billing_services', 'a_service'),
        'quantity', 1
    )
),
(
    'public.voice_lines', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'vapi_phone_number_id', 'pn-reach', 'phone', '+911765500199'
    )
),
(
    'public.appointments', 'a_front_desk', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'doctor_id', pg_temp.a('doctors', 'a_doctor'),
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'starts_at', now() + interval '40 days',
        'ends_at', now() + interval '40 days 20 minutes', 'lead_id', pg_temp.a('leads', 'a_lead')
    )
),
(
    'public.leads', 'a_front_desk', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'full_name', 'Reach Inquiry', 'phone', '+919811199999',
        'source', 'Walk-In', 'preferred_doctor_id', pg_temp.a('doctors', 'a_doctor'),
        'assigned_to', tests.user_id('a_cro')
    )
),
(
    'public.lead_activities', 'a_cro', jsonb_build_object(
        'lead_id', pg_temp.a('leads', 'a_lead'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'kind', 'call',
        'outcome', 'busy'
    )
),
(
    'public.lead_follow_ups', 'a_cro', jsonb_build_object(
        'lead_id', pg_temp.a('leads', 'a_lead'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'due_at', now() + interval '1 day', 'assigned_to', tests.user_id('a_cro')
    )
),
(
    'public.lead_options', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'kind', 'source', 'name', 'Reach Radio'
    )
),
(
    'public.doctor_calendar_links', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'doctor_id', pg_temp.a('doctors', 'a_doctor'),
        'cal_user_id', 770001, 'cal_email', 'a.doctor@cal.test'
    )
),
(
    'public.care_team_members', 'a_front_desk', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient2'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'member_id', tests.user_id('a_doctor2'), 'member_role', 'doctor'
    )
),
(
    'public.clinical_note_addenda', 'a_doctor', jsonb_build_object(
        'note_id', pg_temp.a('clinical_notes', 'a_note'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'body_encrypted', private.encrypt_field('addendum')
    )
),
(
    'public.clinical_notes', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment2'),
        'encounter_id', pg_temp.a('encounters', 'a_encounter'),
        'soap_encrypted', private.encrypt_field('{"assessment": "template"}')
    )
),
(
    'public.consent_documents', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'purpose', 'contact_email', 'version', 2,
        'title', 'Email', 'body', 'You may email me, v2.'
    )
),
(
    'public.consent_events', 'a_patient1', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'document_id', pg_temp.a('consent_documents', 'a_consent_email'), 'action', 'granted'
    )
),
('public.device_tokens', 'a_doctor', jsonb_build_object('token', 'reach-token', 'platform', 'android')),
(
    'public.diagnoses', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'encounter_id', pg_temp.a('encounters', 'a_encounter'), 'icd10_code', 'E11.9',
        'description', 'Type 2 diabetes mellitus'
    )
),
(
    'public.doctor_availability_exceptions', 'a_admin', jsonb_build_object(
        'doctor_id', pg_temp.a('doctors', 'a_doctor'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'kind', 'time_off', 'starts_at', now() + interval '50 days', 'ends_at', now() + interval '51 days'
    )
),
(
    'public.doctor_working_hours', 'a_admin', jsonb_build_object(
        'doctor_id', pg_temp.a('doctors', 'a_doctor'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'weekday', 1, 'starts_at', '18:00', 'ends_at', '20:00'
    )
),
(
    'public.doctors', 'a_admin', jsonb_build_object(
        'user_id', tests.user_id('a_new_doctor'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'specialty', 'General Medicine', 'licence_number', 'PMC-A-7001'
    )
),
(
    'public.encounters', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment2')
    )
),
(
    'public.lab_results', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'encounter_id', pg_temp.a('encounters', 'a_encounter'),
        'attachment_id', pg_temp.a('patient_documents', 'a_document'),
        'ordered_by', tests.user_id('a_doctor'), 'test_name', 'HbA1c', 'result_value', '6.1', 'status', 'normal'
    )
),
(
    'public.medical_profiles', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'blood_group', 'B+'
    )
),
(
    'public.patient_documents', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'name', 'Echo', 'document_type', 'imaging', 'encounter_id', pg_temp.a('encounters', 'a_encounter'),
        'mime_type', 'application/pdf', 'size_bytes', 2048,
        'storage_path', 'patients/' || pg_temp.a('patients', 'a_patient1') || '/records/'
        || pg_temp.a('encounters', 'a_encounter') || '/echo/echo.pdf'
    )
),
(
    'public.patient_identifiers', 'a_front_desk', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient2'), 'kind', 'aadhaar',
        'value_encrypted', private.encrypt_field('234567890987'),
        'blind_index', private.blind_index('aadhaar', '234567890987'), 'last4', '0987'
    )
),
(
    'public.patient_pharmacy_choices', 'a_patient1', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'pharmacy_id', pg_temp.a('pharmacies', 'a_central')
    )
),
(
    'public.patient_registrations', 'a_front_desk', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_new_person'), 'hospital_id', pg_temp.a('hospitals', 'TSTA')
    )
),
('public.patients', 'a_front_desk', jsonb_build_object('full_name', 'Another Person')),
(
    'public.pharmacies', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'name', 'TSTA Night Pharmacy'
    )
),
(
    'public.pharmacists', 'a_admin', jsonb_build_object(
        'user_id', tests.user_id('a_new_pharmacist'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'pharmacy_id', pg_temp.a('pharmacies', 'a_central'), 'licence_number', 'PCI-A-7002'
    )
),
(
    'public.prescription_dispensings', 'a_pharmacist', jsonb_build_object(
        'prescription_item_id', pg_temp.a('prescription_items', 'a_item_approved'), 'quantity', 10
    )
),
(
    'public.prescription_items', 'a_doctor', jsonb_build_object(
        'prescription_id', pg_temp.a('prescriptions', 'a_prescription'), 'line_no', 2,
        'details', private.encrypt_field('{"name": "Amlodipine"}'), 'quantity', 30
    )
),
(
    'public.prescriptions', 'a_doctor', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'doctor_id', pg_temp.a('doctors', 'a_doctor'), 'pharmacy_id', pg_temp.a('pharmacies', 'a_central'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment1')
    )
),
(
    'public.record_shares', 'a_patient1', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'target_hospital_id', pg_temp.a('hospitals', 'TSTB')
    )
),
(
    'public.hospital_business_hours', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'weekday', 7, 'opens_at', '10:00', 'closes_at', '14:00'
    )
),
(
    'public.hospital_closures', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'closed_on', '2031-12-25', 'name', 'Christmas'
    )
),
(
    'public.message_templates', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'code', 'reach_template', 'name', 'Reach', 'channel', 'sms',
        'body', 'Hello {{ patient_name }}', 'variables', '{patient_name}'
    )
),
(
    'public.tickets', 'a_front_desk', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'title', 'Reach template', 'assigned_to', tests.user_id('a_nurse'),
        'journey_instance_id', pg_temp.a('journey_instances', 'a_instance')
    )
),
(
    'public.ticket_comments', 'a_front_desk', jsonb_build_object(
        'ticket_id', pg_temp.a('tickets', 'a_ticket'), 'body', 'Called back'
    )
),
(
    'public.ticket_sla_targets', 'a_admin', jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'priority', 'low', 'first_response_minutes', 60,
        'resolution_minutes', 600
    )
),
(
    'public.radiology_scans', 'a_doctor', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'modality', 'US', 'study_type', 'Echocardiogram'
    )
),
(
    'public.vital_signs', 'a_nurse', jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'encounter_id', pg_temp.a('encounters', 'a_encounter'), 'heart_rate_bpm', 72
    )
);

-- Who of TSTA attempts every swapped reference: each role, a revoked member, a user with no role.
create temporary table reach_attackers (name text primary key);
insert into reach_attackers
values ('a_admin'), ('a_doctor'), ('a_doctor2'), ('a_nurse'), ('a_pharmacist'), ('a_front_desk'), ('a_cro'),
('a_patient1'), ('a_revoked_doctor'), ('nobody');

-- Runs one write as a user inside a subtransaction that is always undone. Returns null when the
-- write was accepted, else the SQLSTATE it was refused with. `setup` runs first, as the owner.
-- `landed`, run as the owner afterwards, says whether the forged reference was stored (a
-- trigger may have replaced it with the right one).
create function pg_temp.attempt(
    statement text, args jsonb, actor text, setup text default null, landed text default null
)
returns text
language plpgsql
as $$
declare
    touched bigint;
    stored boolean;
begin
    begin
        if setup is not null then
            execute setup;
        end if;
        perform tests.act_as(actor);
        execute statement using args;
        get diagnostics touched = row_count;
        if touched = 0 then
            raise exception using errcode = 'RCH01', message = 'no row written';
        end if;
        if landed is not null then
            perform tests.clear_authentication();
            execute landed into stored using args;
            if not stored then
                raise exception using errcode = 'RCH02', message = 'written, with the reference replaced';
            end if;
        end if;
        raise exception using errcode = 'RCH00', message = 'accepted';
    exception
        when others then
            return nullif(sqlstate, 'RCH00');
    end;
end;
$$;

create function pg_temp.insert_statement(t regclass, template jsonb)
returns text
language sql
as $$
    select format(
        'insert into %s (%s) select %2$s from jsonb_populate_record(null::%1$s, $1)',
        t, string_agg(quote_ident(k), ', ')
    )
    from jsonb_object_keys(template) as k;
$$;

-- Refusals that prove nothing about reach: the row was refused for another reason.
create function pg_temp.conclusive(state text)
returns boolean
language sql
as $$
    select state is not null and state not in ('23505', '23P01', '23502', '22P02', '23514')
        and state !~ '^(answer|wrote): '
$$;

create function pg_temp.check_table(t regclass)
returns setof text
language plpgsql
as $$
declare
    tmpl reach_templates;
    k pg_catalog.pg_constraint;
    cols text[];
    the_side text;
    variant jsonb;
    forged jsonb;
    landed text;
    state text;
    accepted text[];
    attacker text;
    is_staff boolean;
begin
    select * into tmpl from reach_templates as r where r.table_name = t;
    state := pg_temp.attempt(pg_temp.insert_statement(t, tmpl.template), tmpl.template, tmpl.actor);
    return next ok(state is null, format('%s: %s writes the template row (control)%s', t, tmpl.actor,
        coalesce(' -- refused with ' || state, '')));
    is_staff := tmpl.template ? 'hospital_id'
        and exists (select from public.staff_memberships as m where m.user_id = tests.user_id(tmpl.actor));
    if is_staff then
        state := pg_temp.attempt(
            pg_temp.insert_statement(t, tmpl.template), tmpl.template, tmpl.actor,
            format('update public.staff_memberships set is_active = false where user_id = %L', tests.user_id(tmpl.actor))
        );
        return next ok(pg_temp.conclusive(state), format('%s: refused once %s''s membership is revoked (%s)',
            t, tmpl.actor, coalesce(state, 'accepted')));
        state := pg_temp.attempt(
            pg_temp.insert_statement(t, tmpl.template), tmpl.template, tmpl.actor,
            format('update public.hospitals set is_active = false where id = %L', tests.id_of('hospitals', 'TSTA'))
        );
        return next ok(pg_temp.conclusive(state), format('%s: refused once TSTA is deactivated (%s)',
            t, coalesce(state, 'accepted')));
    end if;

    for k in select * from pg_catalog.pg_constraint as c where c.conrelid = t and c.contype = 'f' order by c.conname loop
        -- Only what a caller can write can be forged.
        select array_agg(a.attname::text order by a.attnum) into cols
        from pg_catalog.pg_attribute as a
        where a.attrelid = t and a.attnum = any(k.conkey)
            and a.attgenerated = ''
            and has_column_privilege('authenticated', t, a.attname, 'INSERT');
        continue when cols is null;
        if not exists (select from reach_targets as r where r.target = k.confrelid) then
            return next fail(format('%s(%s): no reach target row for %s; add one', t, cols, k.confrelid::regclass));
            continue;
        end if;
        if k.confrelid not in ('public.profiles'::regclass, 'auth.users'::regclass)
            and not tmpl.template ?& cols then
            return next fail(format('%s: the template leaves the reference %s out; fill it in', t, cols));
            continue;
        end if;
        foreach the_side in array array['b', 'c'] loop
            continue when exists (
                select from reach_by_design as d
                where d.table_name = t and d.column_name = any(cols) and d.side = the_side
            );
            forged := (
                select jsonb_object_agg(f.key, f.value) from jsonb_each(pg_temp.foreign_values(k.oid, the_side)) as f
                where f.key = any(cols)
            );
            variant := tmpl.template || forged;
            landed := format(
                'select exists (select from %s as t where (%s) = (select %s from jsonb_populate_record(null::%1$s, $1)))',
                t, (select string_agg('t.' || quote_ident(c), ', ') from unnest(cols) as c),
                (select string_agg(quote_ident(c), ', ') from unnest(cols) as c)
            );
            accepted := '{}';
            for attacker in select name from reach_attackers union select tmpl.actor loop
                state := pg_temp.attempt(pg_temp.insert_statement(t, variant), variant, attacker, null, landed);
                if not pg_temp.conclusive(state) then
                    accepted := accepted || (attacker || ':' || coalesce(state, 'accepted'));
                end if;
            end loop;
            return next ok(cardinality(accepted) = 0, format(
                '%s(%s) pointing at TST%s''s row: refused for every user of TSTA%s',
                t, array_to_string(cols, ', '), upper(the_side),
                case when cardinality(accepted) > 0 then ' -- not by ' || array_to_string(accepted, ', ') else '' end
            ));
        end loop;
    end loop;
end;
$$;

-- Columns the API may UPDATE that hold a reference: every row of TSTA in reach of an attacker,
-- pointed at TSTB's or TSTC's row.
create function pg_temp.check_updates(t regclass)
returns setof text
language plpgsql
as $$
declare
    k pg_catalog.pg_constraint;
    cols text[];
    the_side text;
    forged jsonb;
    state text;
    accepted text[];
    attacker text;
    statement text;
    landed text;
begin
    for k in select * from pg_catalog.pg_constraint as c where c.conrelid = t and c.contype = 'f' order by c.conname loop
        select array_agg(a.attname::text order by a.attnum) into cols
        from pg_catalog.pg_attribute as a
        where a.attrelid = t and a.attnum = any(k.conkey) and a.attgenerated = ''
            and has_column_privilege('authenticated', t, a.attname, 'UPDATE');
        continue when cols is null;
        statement := format(
            'update %1$s as t set (%2$s) = (select %2$s from jsonb_populate_record(null::%1$s, $1)) where t.hospital_id = %3$L',
            t, (select string_agg(quote_ident(c), ', ') from unnest(cols) as c), tests.id_of('hospitals', 'TSTA')
        );
        landed := format(
            'select exists (select from %s as t where (%s) = (select %s from jsonb_populate_record(null::%1$s, $1)))',
            t, (select string_agg('t.' || quote_ident(c), ', ') from unnest(cols) as c),
            (select string_agg(quote_ident(c), ', ') from unnest(cols) as c)
        );
        foreach the_side in array array['b', 'c'] loop
            continue when exists (
                select from reach_by_design as d
                where d.table_name = t and d.column_name = any(cols) and d.side = the_side
            );
            forged := (
                select jsonb_object_agg(f.key, f.value) from jsonb_each(pg_temp.foreign_values(k.oid, the_side)) as f
                where f.key = any(cols)
            );
            accepted := '{}';
            for attacker in select name from reach_attackers loop
                state := pg_temp.attempt(statement, forged, attacker, null, landed);
                if not pg_temp.conclusive(state) then
                    accepted := accepted || (attacker || ':' || coalesce(state, 'accepted'));
                end if;
            end loop;
            return next ok(cardinality(accepted) = 0, format(
                '%s: updating %s of TSTA''s rows to TST%s''s row is refused for every user of TSTA%s',
                t, array_to_string(cols, ', '), upper(the_side),
                case when cardinality(accepted) > 0 then ' -- not by ' || array_to_string(accepted, ', ') else '' end
            ));
        end loop;
    end loop;
end;
$$;

select pg_temp.check_table(r.table_name) from reach_templates as r
order by r.table_name::text;
select pg_temp.check_updates(r.table_name) from reach_templates as r
order by r.table_name::text;

select is_empty(
    $$ select c.oid::regclass::text from pg_catalog.pg_class as c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
            and has_any_column_privilege('authenticated', c.oid, 'INSERT')
            and not exists (select from reach_templates as r where r.table_name = c.oid) $$,
    'every table the API roles may insert into has a reach template'
);

-- A second record of a_patient1 at TSTA (the same person registered twice), for the duplicate
-- calls.
do $$
declare
    twin uuid;
begin
    insert into public.patients (full_name, phone, date_of_birth, sex)
    select p.full_name, p.phone, p.date_of_birth, p.sex from public.patients as p
    where p.id = tests.id_of('patients', 'a_patient1')
    returning id into twin;
    perform pg_temp.fixture('patients', 'a_patient1_twin', twin);
    insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source)
    values (twin, tests.id_of('hospitals', 'TSTA'), 'TSTA-TWIN1', 'walk-in');
end;
$$;

-- RPCs ------------------------------------------------------------------------------------------
-- Which table an argument named like a reference points at. A reference argument whose name
-- is not here fails the completeness check below.
create temporary table reach_argument_targets (argument text primary key, target regclass, why_not text);
insert into reach_argument_targets (argument, target, why_not)
values
('patient_id', 'public.patients', null), ('other_patient_id', 'public.patients', null),
('hospital_id', 'public.hospitals', null),
('doctor_id', 'public.doctors', null), ('appointment_id', 'public.appointments', null),
('exclude_appointment_id', 'public.appointments', null), ('note_id', 'public.clinical_notes', null),
('prescription_ids', 'public.prescriptions', null), ('pharmacy_id', 'public.pharmacies', null),
('encounter_id', 'public.encounters', null), ('document_id', 'public.consent_documents', null),
('identifier_id', 'public.patient_identifiers', null), ('pharmacist_id', 'public.pharmacists', null),
('user_id', 'public.profiles', null), ('notification_id', 'private.outbox', null),
('inbox_entry_id', 'private.webhook_inbox', null),
('flag_id', 'public.calendar_sync_flags', null),
('invitation_id', 'public.staff_invitations', null),
('source_id', 'public.patients', null), ('target_id', 'public.patients', null),
('merge_id', 'public.patient_merges', null), ('session_id', 'public.ai_sessions', null),
('invoice_id', 'public.invoices', null), ('payment_id', 'public.payments', null),
('action_id', 'public.ai_pending_actions', null), ('ticket_id', 'public.tickets', null),
('message_id', 'public.messages', null), ('template_id', 'public.message_templates', null),
('provider_message_id', null, 'the provider''s id of a message (Twilio SID), for the service role only'),
('journey_instance_id', 'public.journey_instances', null), ('instance_id', 'public.journey_instances', null),
('journey_id', 'public.journeys', null), ('stage_id', 'public.journey_stages', null),
('practitioner_id', 'public.doctors', null),
('membership_id', 'public.staff_memberships', null),
('scan_id', 'public.radiology_scans', null),
('analysis_id', 'public.cdss_analyses', null),
('grant_id', null, 'a single-use grant handed to the admin who began provisioning; tested in staff_provisioning'),
('lead_id', 'public.leads', null), ('preferred_doctor_id', 'public.doctors', null),
('entered_in_error_ids', 'public.diagnoses', null);

-- A call the actor may make, as a query over the argument object $1 whose answer is not
-- empty; every key of the object is a reference to swap.
create temporary table reach_calls (
    function_name text primary key, actor text not null, call text not null, args jsonb not null
);
insert into reach_calls (function_name, actor, call, args)
values
(
    'patient_financials', 'a_front_desk',
    $$ select public.patient_financials(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'financial_snapshot', 'a_front_desk', $$ select public.financial_snapshot(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'report_dashboard', 'a_admin',
    $$ select public.report_dashboard(($1 ->> 'hospital_id')::uuid, current_date - 30, current_date) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'report_revenue', 'a_admin',
    $$ select jsonb_agg(r) from public.report_revenue(($1 ->> 'hospital_id')::uuid, current_date - 30,
        current_date + 1) as r $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'report_appointments', 'a_admin',
    $$ select jsonb_agg(r) from public.report_appointments(($1 ->> 'hospital_id')::uuid, current_date - 30,
        current_date + 1) as r $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'report_patients', 'a_admin',
    $$ select jsonb_agg(r) from public.report_patients(($1 ->> 'hospital_id')::uuid, current_date - 30,
        current_date + 1) as r $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'issue_invoice', 'a_front_desk', $$ select to_jsonb(public.issue_invoice(($1 ->> 'invoice_id')::uuid)) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_draft_invoice'))
),
(
    'discard_invoice', 'a_front_desk',
    $$ select to_jsonb(public.discard_invoice(($1 ->> 'invoice_id')::uuid, 'reach')) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_draft_invoice'))
),
(
    'issue_credit_note', 'a_front_desk',
    $$ select to_jsonb(public.issue_credit_note(($1 ->> 'invoice_id')::uuid, 10, 'reach')) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_invoice'))
),
(
    'invoice_appointment', 'a_front_desk',
    $$ select to_jsonb(public.invoice_appointment(($1 ->> 'appointment_id')::uuid)) $$,
    jsonb_build_object('appointment_id', pg_temp.a('appointments', 'a_completed'))
),
(
    'record_payment', 'a_front_desk',
    $$ select to_jsonb(public.record_payment(($1 ->> 'invoice_id')::uuid, 10, 'cash')) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_invoice'))
),
(
    'begin_online_payment', 'a_patient1',
    $$ select to_jsonb(public.begin_online_payment(($1 ->> 'invoice_id')::uuid)) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_invoice'))
),
(
    'open_payment_link', 'a_front_desk',
    $$ select public.open_payment_link(($1 ->> 'invoice_id')::uuid) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_invoice'))
),
(
    'email_payment_link', 'a_front_desk',
    $$ select public.email_payment_link(($1 ->> 'invoice_id')::uuid) $$,
    jsonb_build_object('invoice_id', pg_temp.a('invoices', 'a_invoice'))
),
(
    'request_refund', 'a_front_desk',
    $$ select to_jsonb(public.request_refund(($1 ->> 'payment_id')::uuid, 5, 'reach', 'reach-refund-key')) $$,
    jsonb_build_object('payment_id', pg_temp.a('payments', 'a_payment'))
),
(
    'accept_staff_invitation', 'a_new_staff',
    $$ select public.accept_staff_invitation(($1 ->> 'invitation_id')::uuid) $$,
    jsonb_build_object('invitation_id', pg_temp.a('staff_invitations', 'a_invitation'))
),
(
    'decline_staff_invitation', 'a_new_staff',
    $$ select null::jsonb from public.decline_staff_invitation(($1 ->> 'invitation_id')::uuid) $$,
    jsonb_build_object('invitation_id', pg_temp.a('staff_invitations', 'a_invitation'))
),
(
    'invite_staff', 'a_admin',
    $$ select to_jsonb(public.invite_staff(($1 ->> 'hospital_id')::uuid, 'reach.invitee@test.carebase', 'nurse')) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'revoke_staff_invitation', 'a_admin',
    $$ select to_jsonb(public.revoke_staff_invitation(($1 ->> 'invitation_id')::uuid)) $$,
    jsonb_build_object('invitation_id', pg_temp.a('staff_invitations', 'a_invitation'))
),
(
    'add_note_addendum', 'a_doctor', $$ select to_jsonb(public.add_note_addendum(($1 ->> 'note_id')::uuid, 'more')) $$,
    jsonb_build_object('note_id', pg_temp.a('clinical_notes', 'a_note'))
),
(
    'create_medical_record', 'a_doctor',
    $$ select public.create_medical_record(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid,
        '{"chief_complaint": "reach", "vital_signs": {"heart_rate_bpm": 72}, "assessment": "reach",
          "diagnoses": [{"icd10_code": "I10"}]}', ($1 ->> 'appointment_id')::uuid) $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment2')
    )
),
(
    'amend_medical_record', 'a_doctor',
    $$ select public.amend_medical_record(($1 ->> 'encounter_id')::uuid, 'reach', 'correction',
        entered_in_error_ids => array[($1 ->> 'entered_in_error_ids')::uuid]) $$,
    jsonb_build_object(
        'encounter_id', pg_temp.a('encounters', 'a_signed_encounter'),
        'entered_in_error_ids', pg_temp.a('diagnoses', 'a_diagnosis')
    )
),
(
    'attach_medical_record_file', 'a_doctor',
    $$ select public.attach_medical_record_file(($1 ->> 'encounter_id')::uuid, 'reach.pdf', 'application/pdf', 10) $$,
    jsonb_build_object('encounter_id', pg_temp.a('encounters', 'a_encounter'))
),
(
    'medical_record', 'a_doctor', $$ select public.medical_record(($1 ->> 'encounter_id')::uuid) $$,
    jsonb_build_object('encounter_id', pg_temp.a('encounters', 'a_encounter'))
),
(
    'medical_records', 'a_doctor',
    $$ select jsonb_agg(r)
        from public.medical_records(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid) as r $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'medical_profile', 'a_doctor',
    $$ select public.medical_profile(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'set_medical_profile', 'a_doctor',
    $$ select to_jsonb(public.set_medical_profile(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid, 'O+'))
        || '{"written": true}' $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'appointment_stats', 'a_admin', $$ select public.appointment_stats(hospital_id => ($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'begin_doctor_provisioning', 'a_admin',
    $$ select to_jsonb(public.begin_doctor_provisioning(($1 ->> 'hospital_id')::uuid, 'reach.doc@test.carebase',
        'Reach Doctor', 'Cardiology', 'PMC-A-8001')) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'begin_pharmacist_provisioning', 'a_admin',
    $$ select to_jsonb(public.begin_pharmacist_provisioning(($1 ->> 'hospital_id')::uuid, 'reach.ph@test.carebase',
        'Reach Pharmacist', 'PCI-A-8002', ($1 ->> 'pharmacy_id')::uuid)) $$,
    jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'pharmacy_id', pg_temp.a('pharmacies', 'a_central')
    )
),
(
    'create_lead', 'a_front_desk',
    $$ select public.create_lead(($1 ->> 'hospital_id')::uuid, 'Reach Caller', '+919811188888',
        preferred_doctor_id => ($1 ->> 'preferred_doctor_id')::uuid, book_today => false) $$,
    jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'preferred_doctor_id', pg_temp.a('doctors', 'a_doctor')
    )
),
(
    'convert_lead', 'a_cro',
    $$ select public.convert_lead(($1 ->> 'lead_id')::uuid, patient_id => ($1 ->> 'patient_id')::uuid) $$,
    jsonb_build_object('lead_id', pg_temp.a('leads', 'a_lead'), 'patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'lead_matches', 'a_front_desk',
    $$ select jsonb_agg(m) from public.lead_matches(($1 ->> 'lead_id')::uuid) as m $$,
    jsonb_build_object('lead_id', pg_temp.a('leads', 'a_lead_like_patient1'))
),
(
    'lead_dashboard', 'a_front_desk', $$ select public.lead_dashboard(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'lead_funnel', 'a_cro', $$ select public.lead_funnel(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'assign_leads', 'a_front_desk', $$ select public.assign_leads(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'cro_queue', 'a_cro',
    $$ select jsonb_agg(q) from public.cro_queue(($1 ->> 'hospital_id')::uuid, everyone => true) as q $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'begin_staff_provisioning', 'a_admin',
    $$ select to_jsonb(public.begin_staff_provisioning(($1 ->> 'hospital_id')::uuid, 'reach.nurse@test.carebase',
        'Reach Nurse', 'nurse')) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'staff_members', 'a_admin',
    $$ select jsonb_agg(s.membership_id) from public.staff_members(($1 ->> 'hospital_id')::uuid) as s $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'set_staff_member_active', 'a_admin',
    $$ select public.set_staff_member_active(($1 ->> 'membership_id')::uuid, true) $$,
    jsonb_build_object('membership_id', pg_temp.a('staff_memberships', 'a_nurse'))
),
(
    'begin_password_reset', 'a_admin',
    $$ select public.begin_password_reset(($1 ->> 'user_id')::uuid) $$,
    jsonb_build_object('user_id', tests.user_id('a_nurse'))
),
(
    'request_cdss_analysis', 'a_doctor',
    $$ select public.request_cdss_analysis(($1 ->> 'scan_id')::uuid, 'risk_stratification') $$,
    jsonb_build_object('scan_id', pg_temp.a('radiology_scans', 'a_acquired_scan'))
),
(
    'review_cdss_analysis', 'a_doctor',
    $$ select public.review_cdss_analysis(($1 ->> 'analysis_id')::uuid, 'accept') $$,
    jsonb_build_object('analysis_id', pg_temp.a('cdss_analyses', 'a_analysis'))
),
(
    'cdss_analyses', 'a_doctor',
    $$ select jsonb_agg(c) from public.cdss_analyses(($1 ->> 'scan_id')::uuid, ($1 ->> 'patient_id')::uuid) as c $$,
    jsonb_build_object(
        'scan_id', pg_temp.a('radiology_scans', 'a_acquired_scan'), 'patient_id', pg_temp.a('patients', 'a_patient1')
    )
),
(
    'order_scan', 'a_doctor',
    $$ select public.order_scan(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid, 'ECG', 'Resting ECG') $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'scan_orders', 'a_doctor',
    $$ select jsonb_agg(s) from public.scan_orders(($1 ->> 'patient_id')::uuid, ($1 ->> 'scan_id')::uuid) as s $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'scan_id', pg_temp.a('radiology_scans', 'a_scan')
    )
),
(
    'scan_images', 'a_doctor',
    $$ select public.scan_images(($1 ->> 'scan_id')::uuid) $$,
    jsonb_build_object('scan_id', pg_temp.a('radiology_scans', 'a_scan'))
),
(
    'book_appointment', 'a_front_desk',
    $$ select to_jsonb(public.book_appointment(($1 ->> 'doctor_id')::uuid, now() + interval '60 days',
        now() + interval '60 days 20 minutes', patient_id => ($1 ->> 'patient_id')::uuid)) $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor'), 'patient_id', pg_temp.a('patients', 'a_patient2'))
),
(
    'cancel_appointment', 'a_front_desk',
    $$ select to_jsonb(public.cancel_appointment(($1 ->> 'appointment_id')::uuid, 'reach')) $$,
    jsonb_build_object('appointment_id', pg_temp.a('appointments', 'a_appointment2'))
),
(
    'check_conflicts', 'a_front_desk',
    $$ select nullif(public.check_conflicts(($1 ->> 'doctor_id')::uuid, now() + interval '21 days',
        now() + interval '23 days', ($1 ->> 'exclude_appointment_id')::uuid, ($1 ->> 'patient_id')::uuid),
        '[]') $$,
    jsonb_build_object(
        'doctor_id', pg_temp.a('doctors', 'a_doctor'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'exclude_appointment_id', pg_temp.a('appointments', 'a_appointment2')
    )
),
(
    'clinical_note', 'a_doctor', $$ select public.clinical_note(($1 ->> 'note_id')::uuid) $$,
    jsonb_build_object('note_id', pg_temp.a('clinical_notes', 'a_note'))
),
(
    'complete_staff_provisioning', 'a_admin',
    $$ select public.complete_staff_provisioning((select grant_id from reach_grant), ($1 ->> 'user_id')::uuid) $$,
    jsonb_build_object('user_id', tests.user_id('reach_login'))
),
(
    'find_slots', 'a_patient1',
    $$ select jsonb_agg(s) from public.find_slots(now() + interval '2 days', now() + interval '3 days',
        doctor_id => ($1 ->> 'doctor_id')::uuid, hospital_id => ($1 ->> 'hospital_id')::uuid) as s $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'merge_preview', 'a_admin',
    $$ select public.merge_preview(($1 ->> 'source_id')::uuid, ($1 ->> 'target_id')::uuid) $$,
    jsonb_build_object(
        'source_id',
        pg_temp.a('patients', 'a_open_merge_source'),
        'target_id',
        pg_temp.a('patients', 'a_open_merge_target')
    )
),
(
    'merge_patients', 'a_admin',
    $$ select to_jsonb(public.merge_patients(($1 ->> 'source_id')::uuid, ($1 ->> 'target_id')::uuid, 'reach')) $$,
    jsonb_build_object(
        'source_id',
        pg_temp.a('patients', 'a_open_merge_source'),
        'target_id',
        pg_temp.a('patients', 'a_open_merge_target')
    )
),
(
    'unmerge_patients', 'a_admin',
    $$ select to_jsonb(public.unmerge_patients(($1 ->> 'merge_id')::uuid, 'reach')) $$,
    jsonb_build_object('merge_id', pg_temp.a('patient_merges', 'a_merge'))
),
(
    'patient_demographics', 'a_front_desk',
    $$ select public.patient_demographics(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'patient_duplicates', 'a_front_desk',
    $$ select jsonb_agg(d) from public.patient_duplicates(($1 ->> 'patient_id')::uuid) as d $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'patient_360', 'a_front_desk',
    $$ select public.patient_360(($1 ->> 'patient_id')::uuid) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'practitioner_specialties', 'a_patient1',
    $$ select jsonb_agg(s) from public.practitioner_specialties(($1 ->> 'hospital_id')::uuid) as s $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'assign_voice_session', 'a_front_desk',
    $$ select to_jsonb(public.assign_voice_session(($1 ->> 'session_id')::uuid, ($1 ->> 'patient_id')::uuid)) $$,
    jsonb_build_object(
        'session_id', pg_temp.a('ai_sessions', 'a_voice_session'), 'patient_id', pg_temp.a('patients', 'a_patient1')
    )
),
(
    'request_voice_callback', 'a_front_desk',
    $$ select public.request_voice_callback(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'copilot_open_session', 'a_doctor', $$ select public.copilot_open_session(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'copilot_record_turn', 'a_doctor',
    $$ select public.copilot_record_turn(($1 ->> 'session_id')::uuid, 'my patients today', 'Two.') $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_copilot_session'))
),
(
    'copilot_close_session', 'a_doctor', $$ select public.copilot_close_session(($1 ->> 'session_id')::uuid) $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_copilot_session'))
),
(
    'copilot_session_history', 'a_doctor', $$ select public.copilot_session_history(($1 ->> 'session_id')::uuid) $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_copilot_session'))
),
(
    'copilot_session_summary', 'a_doctor', $$ select public.copilot_session_summary(($1 ->> 'session_id')::uuid) $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_copilot_session'))
),
(
    'copilot_propose_action', 'a_doctor',
    $$ select public.copilot_propose_action(($1 ->> 'session_id')::uuid, 'cancel_appointment', '{}', 'Cancel') $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_copilot_session'))
),
(
    'copilot_decide_action', 'a_doctor',
    $$ select public.copilot_decide_action(($1 ->> 'action_id')::uuid, 'confirm') $$,
    jsonb_build_object('action_id', pg_temp.a('ai_pending_actions', 'a_action'))
),
(
    'copilot_finish_action', 'a_doctor',
    $$ select public.copilot_finish_action(($1 ->> 'action_id')::uuid, '{"done": true}', true) $$,
    jsonb_build_object('action_id', pg_temp.a('ai_pending_actions', 'a_confirmed_action'))
),
(
    'send_message', 'a_front_desk',
    $$ select to_jsonb(public.send_message(($1 ->> 'patient_id')::uuid, 'sms', 'Hello Gurmeet Singh',
        hospital_id => ($1 ->> 'hospital_id')::uuid, template_id => ($1 ->> 'template_id')::uuid,
        journey_instance_id => ($1 ->> 'journey_instance_id')::uuid)) $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'template_id', pg_temp.a('message_templates', 'a_template'),
        'journey_instance_id', pg_temp.a('journey_instances', 'a_instance')
    )
),
(
    'create_journey', 'a_admin',
    $$ select public.create_journey(($1 ->> 'hospital_id')::uuid, 'Reach new', stages => '[{"name": "One"}]') $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'update_journey', 'a_admin', $$ select public.update_journey(($1 ->> 'journey_id')::uuid, name => 'Renamed') $$,
    jsonb_build_object('journey_id', pg_temp.a('journeys', 'a_journey'))
),
(
    'add_journey_stage', 'a_admin',
    $$ select public.add_journey_stage(($1 ->> 'journey_id')::uuid, '{"name": "Three"}') $$,
    jsonb_build_object('journey_id', pg_temp.a('journeys', 'a_journey'))
),
(
    'update_journey_stage', 'a_admin',
    $$ select public.update_journey_stage(($1 ->> 'stage_id')::uuid, '{"name": "First"}') $$,
    jsonb_build_object('stage_id', pg_temp.a('journey_stages', 'a_stage'))
),
(
    'journey', 'a_front_desk', $$ select public.journey(($1 ->> 'journey_id')::uuid) $$,
    jsonb_build_object('journey_id', pg_temp.a('journeys', 'a_journey'))
),
(
    'start_journey_instance', 'a_front_desk',
    $$ select to_jsonb(public.start_journey_instance(($1 ->> 'journey_id')::uuid, ($1 ->> 'patient_id')::uuid,
        ($1 ->> 'appointment_id')::uuid, ($1 ->> 'encounter_id')::uuid)) $$,
    jsonb_build_object(
        'journey_id', pg_temp.a('journeys', 'a_journey_unused'), 'patient_id', pg_temp.a('patients', 'a_patient1'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment1'),
        'encounter_id', pg_temp.a('encounters', 'a_encounter')
    )
),
(
    'advance_journey_instance', 'a_front_desk',
    $$ select to_jsonb(public.advance_journey_instance(($1 ->> 'instance_id')::uuid, 'reach')) $$,
    jsonb_build_object('instance_id', pg_temp.a('journey_instances', 'a_instance'))
),
(
    'cancel_journey_instance', 'a_front_desk',
    $$ select to_jsonb(public.cancel_journey_instance(($1 ->> 'instance_id')::uuid, 'reach')) $$,
    jsonb_build_object('instance_id', pg_temp.a('journey_instances', 'a_instance'))
),
(
    'journey_instance', 'a_front_desk', $$ select public.journey_instance(($1 ->> 'instance_id')::uuid) $$,
    jsonb_build_object('instance_id', pg_temp.a('journey_instances', 'a_instance'))
),
(
    'journey_instance_stats', 'a_front_desk',
    $$ select nullif(public.journey_instance_stats(($1 ->> 'hospital_id')::uuid, ($1 ->> 'journey_id')::uuid)
        ->> 'total', '0')::jsonb $$,
    jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'journey_id', pg_temp.a('journeys', 'a_journey')
    )
),
(
    'analytics_appointments', 'a_admin',
    $$ select public.analytics_appointments(($1 ->> 'hospital_id')::uuid,
        practitioner_id => ($1 ->> 'practitioner_id')::uuid) $$,
    jsonb_build_object(
        'hospital_id', pg_temp.a('hospitals', 'TSTA'), 'practitioner_id', pg_temp.a('doctors', 'a_doctor')
    )
),
(
    'analytics_journeys', 'a_admin', $$ select public.analytics_journeys(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'analytics_communications', 'a_admin', $$ select public.analytics_communications(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'analytics_voice_calls', 'a_admin', $$ select public.analytics_voice_calls(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'analytics_realtime', 'a_admin', $$ select public.analytics_realtime(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'analytics_dashboard', 'a_admin', $$ select public.analytics_dashboard(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'patient_engagement', 'a_front_desk', $$ select public.patient_engagement(($1 ->> 'patient_id')::uuid) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'journey_overdue_stages', 'a_front_desk',
    $$ select jsonb_agg(o)
        from public.journey_overdue_stages(($1 ->> 'hospital_id')::uuid, now() + interval '2 days') as o $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'mark_message_read', 'a_front_desk',
    $$ select to_jsonb(public.mark_message_read(($1 ->> 'message_id')::uuid)) $$,
    jsonb_build_object('message_id', pg_temp.a('messages', 'a_message'))
),
(
    'archive_message', 'a_front_desk',
    $$ select to_jsonb(public.archive_message(($1 ->> 'message_id')::uuid)) $$,
    jsonb_build_object('message_id', pg_temp.a('messages', 'a_message'))
),
(
    'message_stats', 'a_front_desk', $$ select public.message_stats(($1 ->> 'hospital_id')::uuid) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'search_messages', 'a_front_desk',
    $$ select jsonb_agg(s) from public.search_messages('reach', patient_id => ($1 ->> 'patient_id')::uuid) as s $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'ticket_sla', 'a_front_desk', $$ select public.ticket_sla(($1 ->> 'ticket_id')::uuid) $$,
    jsonb_build_object('ticket_id', pg_temp.a('tickets', 'a_ticket'))
),
(
    'ticket_sla_breaches', 'a_front_desk',
    $$ select jsonb_agg(b)
        from public.ticket_sla_breaches(($1 ->> 'hospital_id')::uuid, now() + interval '400 days') as b $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'voice_session', 'a_front_desk',
    $$ select public.voice_session(($1 ->> 'session_id')::uuid) $$,
    jsonb_build_object('session_id', pg_temp.a('ai_sessions', 'a_voice_session'))
),
(
    'review_duplicate', 'a_front_desk',
    $$ select to_jsonb(public.review_duplicate(
        ($1 ->> 'patient_id')::uuid, ($1 ->> 'other_patient_id')::uuid, 'not_duplicate')) $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'other_patient_id', pg_temp.a('patients', 'a_patient1_twin')
    )
),
(
    'search_patients', 'a_front_desk',
    $$ select jsonb_agg(s) from public.search_patients('singh', hospital_id => ($1 ->> 'hospital_id')::uuid) as s $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'grant_consent', 'a_front_desk',
    $$ select to_jsonb(public.grant_consent(($1 ->> 'document_id')::uuid, ($1 ->> 'patient_id')::uuid)) $$,
    jsonb_build_object(
        'document_id',
        pg_temp.a('consent_documents', 'a_consent_email'),
        'patient_id',
        pg_temp.a('patients', 'a_patient2')
    )
),
(
    'issue_prescription', 'a_doctor',
    $$ select to_jsonb(public.issue_prescription(($1 ->> 'patient_id')::uuid, '[{"name": "Metformin", "quantity": 30}]',
        ($1 ->> 'pharmacy_id')::uuid, ($1 ->> 'appointment_id')::uuid, hospital_id => ($1 ->> 'hospital_id')::uuid)) $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'pharmacy_id', pg_temp.a('pharmacies', 'a_central'),
        'appointment_id', pg_temp.a('appointments', 'a_appointment1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA')
    )
),
(
    'patient_timeline', 'a_doctor',
    $$ select jsonb_agg(t) from public.patient_timeline(($1 ->> 'patient_id')::uuid) as t $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'read_prescriptions', 'a_doctor',
    $$ select jsonb_agg(p) from public.read_prescriptions(array[($1 ->> 'prescription_ids')::uuid]) as p $$,
    jsonb_build_object('prescription_ids', pg_temp.a('prescriptions', 'a_prescription'))
),
(
    'register_existing_patient', 'a_front_desk',
    $$ select to_jsonb(public.register_existing_patient(($1 ->> 'hospital_id')::uuid,
        (select code from reach_code))) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'register_patient', 'a_front_desk',
    $$ select to_jsonb(public.register_patient(($1 ->> 'hospital_id')::uuid, 'Reach Walk-in')) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'))
),
(
    'resolve_calendar_flag', 'a_front_desk',
    $$ select to_jsonb(public.resolve_calendar_flag(($1 ->> 'flag_id')::uuid, 'called the patient')) $$,
    jsonb_build_object('flag_id', pg_temp.a('calendar_sync_flags', 'a_flag'))
),
(
    'reschedule_appointment', 'a_front_desk',
    $$ select to_jsonb(public.reschedule_appointment(($1 ->> 'appointment_id')::uuid, now() + interval '70 days')) $$,
    jsonb_build_object('appointment_id', pg_temp.a('appointments', 'a_appointment2'))
),
(
    'reapply_webhook', 'a_admin', $$ select public.reapply_webhook(($1 ->> 'inbox_entry_id')::uuid) $$,
    jsonb_build_object('inbox_entry_id', pg_temp.a('webhook_inbox', 'a_inbox'))
),
(
    'webhook_inbox_payload', 'a_admin', $$ select public.webhook_inbox_payload(($1 ->> 'inbox_entry_id')::uuid) $$,
    jsonb_build_object('inbox_entry_id', pg_temp.a('webhook_inbox', 'a_inbox'))
),
(
    'set_doctor_calendar_key', 'a_admin',
    $$ select public.set_doctor_calendar_key(($1 ->> 'doctor_id')::uuid, 'cal_live_reach_test_key') $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor'))
),
(
    'retry_notification', 'a_admin', $$ select to_jsonb(public.retry_notification(($1 ->> 'notification_id')::uuid)) $$,
    jsonb_build_object('notification_id', pg_temp.a('notifications', 'a_dead'))
),
(
    'reveal_patient_identifier', 'a_front_desk',
    $$ select to_jsonb(public.reveal_patient_identifier(($1 ->> 'identifier_id')::uuid)) $$,
    jsonb_build_object('identifier_id', pg_temp.a('patient_identifiers', 'a_identifier'))
),
(
    'set_doctor_active', 'a_admin', $$ select public.set_doctor_active(($1 ->> 'doctor_id')::uuid, false) $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor2'))
),
(
    'set_doctor_schedule', 'a_admin',
    $$ select jsonb_agg(h) from public.set_doctor_schedule(($1 ->> 'doctor_id')::uuid,
        '[{"weekday": 1, "starts_at": "10:00", "ends_at": "12:00"}]') as h $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor'))
),
(
    'set_patient_identifier', 'a_front_desk',
    $$ select to_jsonb(public.set_patient_identifier(($1 ->> 'patient_id')::uuid, 'aadhaar', '3456 7890 1234')) $$,
    jsonb_build_object('patient_id', pg_temp.a('patients', 'a_patient2'))
),
(
    'set_pharmacist_active',
    'a_admin',
    $$ select public.set_pharmacist_active(($1 ->> 'pharmacist_id')::uuid, false) $$,
    jsonb_build_object('pharmacist_id', pg_temp.a('pharmacists', 'a_pharmacist'))
),
(
    'sign_clinical_note', 'a_doctor', $$ select to_jsonb(public.sign_clinical_note(($1 ->> 'note_id')::uuid)) $$,
    jsonb_build_object('note_id', pg_temp.a('clinical_notes', 'a_draft'))
),
(
    'unlock_login', 'a_admin', $$ select to_jsonb(public.unlock_login(($1 ->> 'user_id')::uuid)) $$,
    jsonb_build_object('user_id', tests.user_id('a_doctor2'))
),
(
    'update_clinical_note', 'a_doctor',
    $$ select null::jsonb from public.update_clinical_note(($1 ->> 'note_id')::uuid, '{"plan": "rest"}') $$,
    jsonb_build_object('note_id', pg_temp.a('clinical_notes', 'a_draft'))
),
(
    'update_doctor', 'a_admin', $$ select public.update_doctor(($1 ->> 'doctor_id')::uuid, bio => 'Reach') $$,
    jsonb_build_object('doctor_id', pg_temp.a('doctors', 'a_doctor2'))
),
(
    'update_pharmacist', 'a_admin',
    $$ select public.update_pharmacist(($1 ->> 'pharmacist_id')::uuid, pharmacy_id => ($1 ->> 'pharmacy_id')::uuid) $$,
    jsonb_build_object(
        'pharmacist_id', pg_temp.a('pharmacists', 'a_pharmacist'), 'pharmacy_id', pg_temp.a('pharmacies', 'a_central')
    )
),
(
    'withdraw_consent', 'a_front_desk',
    $$ select to_jsonb(public.withdraw_consent(($1 ->> 'hospital_id')::uuid, 'contact_email',
        ($1 ->> 'patient_id')::uuid)) $$,
    jsonb_build_object('hospital_id', pg_temp.a('hospitals', 'TSTA'), 'patient_id', pg_temp.a('patients', 'a_patient1'))
),
(
    'write_clinical_note', 'a_doctor',
    $$ select to_jsonb(public.write_clinical_note(($1 ->> 'patient_id')::uuid, ($1 ->> 'hospital_id')::uuid,
        '{"assessment": "reach"}', ($1 ->> 'appointment_id')::uuid, ($1 ->> 'encounter_id')::uuid)) $$,
    jsonb_build_object(
        'patient_id', pg_temp.a('patients', 'a_patient1'), 'hospital_id', pg_temp.a('hospitals', 'TSTA'),
        'appointment_id',
        pg_temp.a('appointments', 'a_appointment2'),
        'encounter_id',
        pg_temp.a('encounters', 'a_encounter')
    )
);

-- Runs one call as a user inside a subtransaction that is always undone. Returns the SQLSTATE
-- it was refused with, 'RCH03' when it answered nothing and wrote nothing, else 'answer: '
-- and the answer ('wrote: ' and the answer when it wrote something).
create function pg_temp.attempt_call(call text, args jsonb, actor text)
returns text
language plpgsql
as $$
declare
    answer jsonb;
    writes_before bigint;
    writes_after bigint;
    outcome text;
begin
    begin
        select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) into writes_before
        from pg_catalog.pg_stat_xact_user_tables where schemaname in ('public', 'private');
        perform tests.act_as(actor);
        execute call into answer using args;
        perform tests.clear_authentication();
        select coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) into writes_after
        from pg_catalog.pg_stat_xact_user_tables where schemaname in ('public', 'private');
        if writes_after > writes_before then
            outcome := 'wrote: ' || coalesce(answer::text, 'null');
        elsif coalesce(answer, 'null') in ('null', '[]', '{}', 'false') then
            outcome := 'RCH03';
        else
            outcome := 'answer: ' || answer::text;
        end if;
        raise exception using errcode = 'RCH00', message = outcome;
    exception
        when others then
            if sqlstate = 'RCH00' then
                return sqlerrm;
            end if;
            return sqlstate;
    end;
end;
$$;

create function pg_temp.check_call(function_name text)
returns setof text
language plpgsql
as $$
declare
    template reach_calls;
    arg_name text;
    target_table regclass;
    the_side text;
    variant jsonb;
    state text;
    accepted text[];
    attacker text;
begin
    select * into template from reach_calls as c where c.function_name = check_call.function_name;
    state := pg_temp.attempt_call(template.call, template.args, template.actor);
    return next ok(state ~ '^(answer|wrote): ', format('rpc/%s: %s gets an answer (control)%s', function_name,
        template.actor, case when state ~ '^(answer|wrote): ' then '' else ' -- refused with ' || state end));
    for arg_name in select jsonb_object_keys(template.args) loop
        select r.target into target_table from reach_argument_targets as r where r.argument = arg_name;
        foreach the_side in array array['b', 'c'] loop
            select jsonb_set(template.args, array[arg_name], to_jsonb(tests.id_of(t.kind, t.name))) into variant
            from reach_targets as t where t.target = target_table and t.side = the_side;
            accepted := '{}';
            for attacker in select name from reach_attackers union select template.actor loop
                state := pg_temp.attempt_call(template.call, variant, attacker);
                -- An answer is allowed only when it is the answer for a row that does not exist.
                if state like 'answer: %' and state = pg_temp.attempt_call(
                    template.call, jsonb_set(template.args, array[arg_name], to_jsonb(gen_random_uuid())), attacker
                ) then
                    continue;
                end if;
                if not pg_temp.conclusive(state) then
                    accepted := accepted || (attacker || ': ' || left(state, 80));
                end if;
            end loop;
            return next ok(cardinality(accepted) = 0, format(
                'rpc/%s(%s => TST%s''s row): nothing for any user of TSTA%s', function_name, arg_name, upper(the_side),
                case when cardinality(accepted) > 0 then ' -- answered ' || array_to_string(accepted, ', ') else '' end
            ));
        end loop;
    end loop;
end;
$$;

select pg_temp.check_call(c.function_name) from reach_calls as c
order by c.function_name;

select is_empty(
    $$ select distinct p.proname::text from pg_catalog.pg_proc as p
        where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
            and has_function_privilege('authenticated', p.oid, 'EXECUTE')
            and exists (
                select
                from unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", array[coalesce(cardinality(p.proargnames), 0)])))
                    as a (name, mode)
                join reach_argument_targets as t on t.argument = a.name
                where t.target is not null and a.mode in ('i', 'b', 'v')
            )
            and not exists (select from reach_calls as c where c.function_name = p.proname) $$,
    'every RPC taking a reference has a reach call'
);
select is_empty(
    $$ select distinct a.name
        from pg_catalog.pg_proc as p,
            unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", array[coalesce(cardinality(p.proargnames), 0)])))
            as a (name, mode)
        where p.pronamespace = 'public'::regnamespace and p.prokind = 'f' and a.mode in ('i', 'b', 'v')
            and p.proargnames is not null
            and has_function_privilege('authenticated', p.oid, 'EXECUTE')
            and a.name ~ '_ids?$'
            and not exists (select from reach_argument_targets as t where t.argument = a.name) $$,
    'every argument named like a reference says what it points at'
);

select * from finish();
rollback;
