-- An archived patient has no live registration (20261204003000): the patients policy relies on
-- it, so neither an admin restoring a registration nor a new registration may break it.
begin;
select plan(4);

select tests.create_world();

select tests.act_as('a_admin');
select throws_ok(
    $$ update public.patient_registrations set deleted_at = null
        where id = tests.id_of('patient_registrations', 'a_archived@TSTA') $$,
    'PT409', 'the patient''s record is archived',
    'an admin cannot restore the registration of an archived patient'
);
select is(
    (
        select r.deleted_at is not null from public.patient_registrations as r
        where r.id = tests.id_of('patient_registrations', 'a_archived@TSTA')
    ),
    true,
    'the registration stays archived'
);

select tests.act_as_service_role();
select throws_ok(
    $$ insert into public.patient_registrations (patient_id, hospital_id, mrn)
        values (tests.id_of('patients', 'a_archived'), tests.id_of('hospitals', 'TSTB'), 'TSTB-X0001') $$,
    'PT409', 'the patient''s record is archived',
    'not even the service role registers an archived patient anew'
);

select tests.act_as('a_admin');
select lives_ok(
    $$ update public.patient_registrations set deleted_at = null
        where id = tests.id_of('patient_registrations', 'ab_patient4@TSTA') $$,
    'restoring the registration of a live patient is untouched'
);

select * from finish();
rollback;
