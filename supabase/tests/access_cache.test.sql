-- The access helpers cache the caller's reach for the transaction (issue 12): the cache must
-- never answer for another caller, nor survive a change to what it derives from, nor keep what
-- a rolled-back subtransaction saw. Each check reads through a policy, as a request does.
begin;
select plan(12);

select tests.create_world();

-- a_front_desk sees TSTA's registrations; then, in the same transaction, b_front_desk sees TSTB's.
select tests.act_as('a_front_desk');
select is(
    (select array_agg(distinct r.hospital_id) from public.patient_registrations as r),
    array[tests.id_of('hospitals', 'TSTA')],
    'the front desk of TSTA sees TSTA''s registrations'
);
select tests.act_as('b_front_desk');
select is(
    (select array_agg(distinct r.hospital_id) from public.patient_registrations as r),
    array[tests.id_of('hospitals', 'TSTB')],
    'another caller in the same transaction: the cache is not theirs, they see their own hospital'
);
select tests.act_as('a_front_desk');
select is(
    (select array_agg(distinct r.hospital_id) from public.patient_registrations as r),
    array[tests.id_of('hospitals', 'TSTA')],
    'and back: the first caller''s reach again'
);

-- A membership deactivated in this transaction counts from the next statement.
select tests.clear_authentication();
update public.staff_memberships set is_active = false
where user_id = tests.user_id('a_front_desk') and role = 'front_desk';
select tests.act_as('a_front_desk');
select is(
    (select count(*) from public.patient_registrations)::int, 0,
    'a deactivated front desk sees nothing at once, though their reach was cached'
);
select tests.clear_authentication();
update public.staff_memberships set is_active = true
where user_id = tests.user_id('a_front_desk') and role = 'front_desk';
select tests.act_as('a_front_desk');
select ok(
    (select count(*) from public.patient_registrations) > 0,
    'reactivated: they see TSTA''s registrations again'
);

-- A hospital switched off, and a doctor row added, in this transaction.
select tests.act_as('a_doctor');
select ok(
    (select count(*) from public.appointments) >= 0
    and private.own_doctor_ids() = array[tests.id_of('doctors', 'a_doctor')],
    'a_doctor''s own doctor ids are cached'
);
select tests.clear_authentication();
update public.hospitals set is_active = false
where id = tests.id_of('hospitals', 'TSTA');
select tests.act_as('a_doctor');
select is(private.own_doctor_ids(), '{}'::uuid[], 'the hospital switched off: no doctor ids');
select is(
    private.staff_hospital_ids(), '{}'::uuid[], 'and no hospital of theirs among the staff hospitals'
);
select tests.clear_authentication();
update public.hospitals set is_active = true
where id = tests.id_of('hospitals', 'TSTA');

-- What a rolled-back subtransaction changed is forgotten with it.
select tests.act_as('b_doctor');
select is(
    private.own_doctor_ids(), array[tests.id_of('doctors', 'b_doctor')], 'b_doctor before the subtransaction'
);
-- The block's changes roll back when it raises; its handler records what it saw inside.
do $$
begin
    perform tests.clear_authentication();
    insert into public.staff_memberships (user_id, hospital_id, role)
    values (tests.user_id('b_doctor'), tests.id_of('hospitals', 'TSTA'), 'front_desk');
    perform tests.act_as('b_doctor');
    raise exception '%', private.staff_hospital_ids('{front_desk}') = array[tests.id_of('hospitals', 'TSTA')];
exception when raise_exception then
    perform set_config('tests.inside_subtransaction', sqlerrm, true);
end;
$$;
select is(
    current_setting('tests.inside_subtransaction'), 't', 'inside it, the new membership counts'
);
select tests.act_as('b_doctor');
select is(
    private.staff_hospital_ids('{front_desk}'), '{}'::uuid[],
    'rolled back: the membership and what the cache learnt from it are gone'
);

-- A forged cache entry (any session can set a custom setting) does not outlive its claims:
-- it is read only for the claims that filled the cache, and those are the caller's own.
select tests.act_as('a_patient1');
select set_config('carebase.access_for', current_setting('request.jwt.claims'), true);
select set_config('carebase.access_generation', '999', true);
select set_config('carebase.access_999.staff_front_desk_cro', '{}', true);
select tests.act_as('a_front_desk');
select ok(
    (select count(*) from public.patient_registrations) > 0,
    'an entry filled under other claims is not read for this caller'
);

select * from finish();
rollback;
