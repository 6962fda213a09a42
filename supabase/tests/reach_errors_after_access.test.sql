-- Issue 10, finding 12: a write naming another hospital's note or appointment is refused the
-- way row-level security refuses it, whatever that row is (signed or not, whose it is).
begin;
select plan(6);

select tests.create_world();

select tests.act_as('b_doctor');
create temporary table b_rows on commit drop as
select
    public.write_clinical_note(
        tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'), '{"assessment": "draft"}'
    ) as draft,
    public.write_clinical_note(
        tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'), '{"assessment": "to sign"}'
    ) as signed;
select public.sign_clinical_note((select signed from b_rows));
select tests.clear_authentication();
grant select on b_rows to authenticated;
insert into public.appointments (hospital_id, doctor_id, patient_id, starts_at, ends_at)
values
(
    tests.id_of('hospitals', 'TSTB'), tests.id_of('doctors', 'b_doctor'), tests.id_of('patients', 'b_patient3'),
    now() + interval '5 days', now() + interval '5 days 20 minutes'
),
(
    tests.id_of('hospitals', 'TSTA'), tests.id_of('doctors', 'a_doctor'), tests.id_of('patients', 'a_patient1'),
    now() + interval '6 days', now() + interval '6 days 20 minutes'
);

create temporary table probe on commit drop as select private.encrypt_field('probe') as body;
grant select on probe to authenticated;

-- Straight to the table: the addendum guard runs before row-level security.
select tests.act_as('a_doctor');
select throws_ok(
    $$ insert into public.clinical_note_addenda (note_id, patient_id, hospital_id, body_encrypted)
        select (select draft from b_rows), tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), body
        from probe $$,
    '42501', 'new row violates row-level security policy for table "clinical_note_addenda"',
    'an addendum to another hospital''s draft note is refused as RLS refuses it'
);
select throws_ok(
    $$ insert into public.clinical_note_addenda (note_id, patient_id, hospital_id, body_encrypted)
        select (select signed from b_rows), tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), body
        from probe $$,
    '42501', 'new row violates row-level security policy for table "clinical_note_addenda"',
    'the same for its signed note'
);
select throws_ok(
    $$ select public.add_note_addendum(gen_random_uuid(), 'probe') $$,
    'PT404', null,
    'through the RPC, another hospital''s note is not found, like one that does not exist'
);
reset role;
create temporary table b_appointment on commit drop as
select a.id from public.appointments as a
where a.patient_id = tests.id_of('patients', 'b_patient3');
create temporary table a_appointment on commit drop as
select a.id from public.appointments as a
where a.patient_id = tests.id_of('patients', 'a_patient1');
grant select on b_appointment, a_appointment to authenticated;
select tests.act_as('a_doctor');
select throws_ok(
    $$ select public.write_clinical_note(tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'),
        '{"assessment": "probe"}', (select id from a_appointment)) $$,
    '42501', null,
    'a note at another hospital naming an appointment that is not that patient''s is refused by RLS'
);
select throws_ok(
    $$ select public.write_clinical_note(tests.id_of('patients', 'b_patient3'), tests.id_of('hospitals', 'TSTB'),
        '{"assessment": "probe"}', (select id from b_appointment)) $$,
    '42501', null,
    'with that patient''s own appointment there too: nothing tells whose appointment it is'
);
select throws_ok(
    $$ select public.issue_prescription(tests.id_of('patients', 'b_patient3'), '[{"name": "X", "quantity": 1}]',
        appointment_id => (select id from a_appointment), hospital_id => tests.id_of('hospitals', 'TSTB')) $$,
    '42501', null,
    'and a prescription the same way'
);

select * from finish();
rollback;
