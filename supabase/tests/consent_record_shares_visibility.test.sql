-- Who sees a record share (the patient, the two hospitals and the free-text reason): on the
-- source side the patient, the source hospital's admin and the patient's care team there; on
-- the target side only the patient's care team there (who read the shared record) and the
-- target hospital's admin. Front desk, CRO, pharmacists and other clinicians see nothing.
-- ab_patient4 is treated at TSTA (a_nurse) and TSTB (b_doctor); their TSTA record is shared
-- with TSTB.
begin;
select plan(17);

select tests.create_world();

select tests.act_as('a_admin');
insert into public.record_shares (patient_id, hospital_id, target_hospital_id, reason)
values (
    tests.id_of('patients', 'ab_patient4'),
    tests.id_of('hospitals', 'TSTA'),
    tests.id_of('hospitals', 'TSTB'),
    'referral for cardiac work-up'
);

-- The reason of the share, as the current role reads it (no row: nothing).
create function pg_temp.share_reason()
returns setof text
language sql
as $$
    select s.reason from public.record_shares as s where s.patient_id = tests.id_of('patients', 'ab_patient4');
$$;
grant execute on function pg_temp.share_reason() to authenticated;

-- Target side ---------------------------------------------------------------------------------
select tests.act_as('b_doctor');
select results_eq(
    'select pg_temp.share_reason()', array['referral for cardiac work-up'],
    'the patient''s care-team doctor at the target hospital reads the share and its reason'
);
select tests.act_as('b_admin');
select results_eq(
    'select pg_temp.share_reason()', array['referral for cardiac work-up'], 'so does the target hospital''s admin'
);
select tests.act_as('b_doctor2');
select
    is_empty(
        'select pg_temp.share_reason()', 'a doctor of the target hospital outside the patient''s care team: nothing'
    );
select tests.act_as('b_nurse');
select is_empty('select pg_temp.share_reason()', 'a nurse there outside the care team: nothing');
select tests.act_as('b_front_desk');
select is_empty('select pg_temp.share_reason()', 'the target hospital''s front desk: nothing');
select tests.act_as('b_cro');
select is_empty('select pg_temp.share_reason()', 'its CRO: nothing');
select tests.act_as('b_pharmacist');
select is_empty('select pg_temp.share_reason()', 'its pharmacist: nothing');

-- Joining the care team there opens it; leaving it closes it ------------------------------------
select tests.clear_authentication();
insert into public.care_team_members (patient_id, hospital_id, member_id, member_role)
values (
    tests.id_of('patients', 'ab_patient4'),
    tests.id_of('hospitals', 'TSTB'),
    tests.id_of('profiles', 'b_nurse'),
    'nurse'
);
select tests.act_as('b_nurse');
select results_eq(
    'select pg_temp.share_reason()', array['referral for cardiac work-up'],
    'a nurse added to the patient''s care team at the target hospital sees it'
);
select tests.clear_authentication();
update public.care_team_members set ended_at = now()
where patient_id = tests.id_of('patients', 'ab_patient4') and member_id = tests.id_of('profiles', 'b_nurse');
select tests.act_as('b_nurse');
select is_empty('select pg_temp.share_reason()', 'and no longer once off the care team');

-- Source side, as before -----------------------------------------------------------------------
select tests.act_as('a_admin');
select isnt_empty('select pg_temp.share_reason()', 'the source hospital''s admin sees the share');
select tests.act_as('a_nurse');
select isnt_empty('select pg_temp.share_reason()', 'the patient''s care team at the source hospital sees it');
select tests.act_as('a_doctor');
select is_empty('select pg_temp.share_reason()', 'a source doctor outside the patient''s care team: nothing');
select tests.act_as('a_front_desk');
select is_empty('select pg_temp.share_reason()', 'the source front desk: nothing');
select tests.act_as('a_cro');
select is_empty('select pg_temp.share_reason()', 'the source CRO: nothing');
select tests.act_as('a_pharmacist');
select is_empty('select pg_temp.share_reason()', 'the source pharmacist: nothing');
select tests.act_as('b_patient3');
select is_empty('select pg_temp.share_reason()', 'another patient: nothing');
select tests.act_as('nobody');
select is_empty('select pg_temp.share_reason()', 'a user with no role: nothing');

select * from finish();
rollback;
