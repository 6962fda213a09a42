-- Closing a calendar flag by hand (rpc/resolve_calendar_flag): the front desk and admins of the
-- flag's hospital close it once, saying what they did; nobody else can, or learns it exists.
begin;
select plan(12);

select tests.create_world();

insert into public.calendar_sync_flags (hospital_id, provider, kind, external_ref, starts_at, ends_at)
values (tests.id_of('hospitals', 'TSTA'), 'calcom', 'clash', 'uid-flag-a', now(), now() + interval '30 minutes');
select tests.remember('flag', (
    select f.id from public.calendar_sync_flags as f
    where f.external_ref = 'uid-flag-a'
));

create function pg_temp.resolve(resolution text default 'called the patient, moved to Friday')
returns text
language sql
as $$
    select format('select public.resolve_calendar_flag(%L, %L)', tests.recall('flag'), resolution);
$$;
grant execute on function pg_temp.resolve(text) to authenticated;

select tests.act_as('b_front_desk');
select is(
    tests.error_of(pg_temp.resolve()) ->> 'details', 'calendar_flag_not_found',
    'the front desk of another hospital cannot close it'
);
select tests.act_as('b_admin');
select is(
    tests.error_of(pg_temp.resolve('')) ->> 'details', 'calendar_flag_not_found',
    'nor can its admin, whatever the resolution says: out of reach comes first'
);
select tests.act_as('a_doctor');
select is(
    tests.error_of(pg_temp.resolve()) ->> 'details', 'calendar_flag_not_found',
    'a doctor of the hospital does not handle flags'
);
select tests.act_as('a_patient1');
select is(
    tests.error_of(pg_temp.resolve()) ->> 'details', 'calendar_flag_not_found', 'nor does a patient'
);
select tests.act_as('a_front_desk');
select is(
    tests.error_of(pg_temp.resolve('   ')) ->> 'details', 'resolution_required',
    'a resolution that says nothing is refused'
);
select is(
    tests.error_of(pg_temp.resolve(repeat('x', 501))) ->> 'details', 'resolution_required',
    'and one over 500 characters'
);
select throws_ok(
    $$ update public.calendar_sync_flags set resolved_at = now() $$, '42501', null,
    'the table itself stays read-only to the front desk'
);
select is(
    (public.resolve_calendar_flag(tests.recall('flag'), '  called the patient, moved to Friday ')).resolution,
    'called the patient, moved to Friday',
    'the front desk of the hospital closes it with what was done'
);
select ok(
    (
        select f.resolved_at is not null and f.resolved_by = tests.user_id('a_front_desk')
        from public.calendar_sync_flags as f
        where f.id = tests.recall('flag')
    ),
    'the flag says when and by whom'
);
select is(
    tests.error_of(pg_temp.resolve()) ->> 'details', 'already_resolved', 'a closed flag stays as it was closed'
);
select tests.act_as('a_admin');
select is(
    tests.error_of(pg_temp.resolve('again')) ->> 'details', 'already_resolved', 'for the admin too'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::int from audit.log as l
        where
            l.table_name = 'public.calendar_sync_flags' and l.row_id = tests.recall('flag')::text
            and l.action = 'UPDATE' and l.actor_id = tests.user_id('a_front_desk')
    ),
    1,
    'the closing is in the audit trail, in the front desk''s name'
);

select * from finish();
rollback;
