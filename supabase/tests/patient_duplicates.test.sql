-- Possible duplicates (issue 16, item 3): two records of one person registered at one hospital
-- are queued with the score's parts; people sharing only a phone (a family) or a name with a
-- different date of birth are not; a pair decided "not a duplicate" never comes back, not even
-- from a later registration; the queue and the matches stay inside the hospital; nobody writes
-- the queue but the review call.
begin;
select plan(24);

select tests.create_world();
-- Number live events at the end of each statement, as a commit would.
set constraints private.live_events_publish immediate;

-- Registering a patient at a hospital, as the front desk's registration does (the queue
-- trigger fires on the registration).
create function tests.register(name text, full_name text, phone text, born date, sex text, code text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    patient uuid;
begin
    insert into public.patients (full_name, phone, date_of_birth, sex)
    values (full_name, phone, born, sex::public.sex)
    returning id into patient;
    perform tests.remember(name, patient);
    insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source)
    values (patient, tests.id_of('hospitals', code), code || '-D' || substr(md5(name), 1, 5), 'walk-in');
    return patient;
end;
$$;

create function tests.pair_of(a text, b text)
returns public.patient_duplicate_pairs
language sql
set search_path = ''
as $$
    select d.* from public.patient_duplicate_pairs as d
    where d.patient_id = least(tests.recall(a), tests.recall(b))
        and d.other_patient_id = greatest(tests.recall(a), tests.recall(b))
$$;
grant execute on function tests.pair_of(text, text) to authenticated, service_role;

-- One woman registered twice at TSTA (the second time misspelled), her daughter on the same
-- phone, a man whose day and month were swapped, a mother and daughter of one name, and the
-- first woman's namesake at TSTB only.
do $$
begin
    perform tests.register('gk1', 'Gurpreet Kaur', '+919811100001', '1980-04-12', 'female', 'TSTA');
    perform tests.register('gk2', 'Gurprit Kour', '+919811100001', '1980-04-12', 'female', 'TSTA');
    perform tests.register('daughter', 'Harpreet Kaur', '+919811100001', '2005-06-01', 'female', 'TSTA');
    perform tests.register('ms1', 'Manpreet Singh', '+919811100011', '1975-03-08', 'male', 'TSTA');
    perform tests.register('ms2', 'Manpreet Singh', '+919811100012', '1975-08-03', 'male', 'TSTA');
    perform tests.register('sk1', 'Simran Kaur', '+919811100021', '1970-01-20', 'female', 'TSTA');
    perform tests.register('sk2', 'Simran Kaur', '+919811100021', '1998-09-14', 'female', 'TSTA');
    perform tests.register('gk3', 'Gurpreet Kaur', '+919811100031', '1980-04-12', 'female', 'TSTB');
end;
$$;

select tests.act_as('a_front_desk');

select results_eq(
    $$
        select array[d.patient_id, d.other_patient_id] from public.patient_duplicate_pairs as d
        where d.hospital_id = tests.id_of('hospitals', 'TSTA') and d.status = 'open'
        order by d.score desc
    $$,
    $$
        values
        (array[least(tests.recall('gk1'), tests.recall('gk2')), greatest(tests.recall('gk1'), tests.recall('gk2'))]),
        (array[least(tests.recall('ms1'), tests.recall('ms2')), greatest(tests.recall('ms1'), tests.recall('ms2'))])
    $$,
    'the TSTA queue holds the misspelled second registration and the swapped birthday, best first'
);
select is(
    (
        select jsonb_object_agg(p ->> 'part', (p ->> 'points')::numeric)
        from jsonb_array_elements((tests.pair_of('gk1', 'gk2')).parts) as p
    ),
    '{"name": 0.300, "phonetic_key": 0.10, "date_of_birth": 0.25, "sex": 0.05, "phone": 0.10}'::jsonb,
    'the score explains itself: the names sound the same, same birth date, sex and phone'
);
select is((tests.pair_of('gk1', 'gk2')).score, 0.800, 'and adds up to 0.8');
select is(
    (
        select p ->> 'detail' from jsonb_array_elements((tests.pair_of('ms1', 'ms2')).parts) as p
        where p ->> 'part' = 'date_of_birth'
    ),
    'day and month swapped or one digit off',
    'a swapped day and month counts as a typing slip'
);
select is(
    (
        select count(*)::integer from public.patient_duplicate_pairs as d
        where tests.recall('daughter') in (d.patient_id, d.other_patient_id)
    ),
    0,
    'a daughter on her mother''s phone is never proposed: not on the phone alone'
);
select is(
    tests.pair_of('sk1', 'sk2') is null,
    true,
    'one name, one phone, two birth dates: two people, not proposed'
);

-- The patient's screen.
select results_eq(
    $$ select d.id, d.status, d.mrns from public.patient_duplicates(tests.recall('gk1')) as d $$,
    $$ values (tests.recall('gk2'), 'open'::text, array['TSTA-D' || substr(md5('gk2'), 1, 5)]) $$,
    'the front desk sees the other record with its MRN; not the namesake registered only at TSTB'
);
select ok(
    (select d.score from public.patient_duplicates(tests.recall('gk1')) as d) >= 0.55,
    'with its score'
);

-- Other hospitals and roles.
select tests.act_as('b_front_desk');
select is(
    (select count(*)::integer from public.patient_duplicate_pairs),
    0,
    'another hospital''s front desk reads none of the TSTA queue'
);
select is(
    tests.error_of($$ select * from public.patient_duplicates(tests.recall('gk1')) $$) ->> 'code',
    'PT404',
    'nor the duplicates of a patient it cannot read: not found, as for an unknown id'
);
select tests.act_as('a_doctor');
select is(
    (select count(*)::integer from public.patient_duplicate_pairs),
    0,
    'a doctor reads no queue'
);
select is(
    (select count(*)::integer from public.patient_duplicates(tests.id_of('patients', 'a_patient1'))),
    0,
    'and matches nothing even for a patient of their own care team: matching is the front office''s'
);

-- Nobody writes the queue directly.
select tests.act_as('a_admin');
select is(
    tests.error_of($$
        update public.patient_duplicate_pairs set status = 'not_duplicate'
        where hospital_id = tests.id_of('hospitals', 'TSTA')
    $$) ->> 'code',
    '42501',
    'not even the admin updates a pair by hand'
);
select is(
    tests.error_of($$ select public.review_duplicate(tests.recall('gk1'), tests.recall('gk2'), 'maybe') $$)
    ->> 'details',
    'unknown_decision',
    'a decision other than not_duplicate or open is refused'
);

-- The decision.
select tests.act_as('a_front_desk');
select is(
    (public.review_duplicate(tests.recall('gk1'), tests.recall('gk2'), 'not_duplicate', 'twins, seen both')).status,
    'not_duplicate',
    'the front desk decides they are two people'
);
select is(
    (select count(*)::integer from public.patient_duplicates(tests.recall('gk1'))),
    0,
    'and the pair is no longer proposed'
);
select tests.act_as('b_front_desk');
select is(
    tests.error_of(format(
        'select public.review_duplicate(%L, %L, %L)', tests.recall('gk3'), tests.recall('gk2'), 'not_duplicate'
    )) ->> 'code',
    'PT404',
    'TSTB cannot decide on a record it cannot read'
);

-- Both women come to TSTB: the namesake there is proposed, the decided pair stays decided.
select tests.act_as_service_role();
insert into public.patient_registrations (patient_id, hospital_id, mrn, referral_source)
values
(tests.recall('gk1'), tests.id_of('hospitals', 'TSTB'), 'TSTB-DGK1', 'walk-in'),
(tests.recall('gk2'), tests.id_of('hospitals', 'TSTB'), 'TSTB-DGK2', 'walk-in');
select is(
    (tests.pair_of('gk1', 'gk2')).status,
    'not_duplicate',
    'a later registration does not propose a decided pair again'
);
select is(
    (tests.pair_of('gk1', 'gk3')).hospital_id,
    tests.id_of('hospitals', 'TSTB'),
    'the namesake is proposed in the TSTB queue once both are registered there'
);
select is(
    (
        select count(*)::integer from audit.log as l
        where
            l.table_name = 'public.patient_duplicate_pairs'
            and l.action = 'UPDATE'
            and l.patient_id = least(tests.recall('gk1'), tests.recall('gk2'))
    ),
    1,
    'the decision is in the audit trail'
);

select results_eq(
    $$ select e.event, e.payload ->> 'status' from public.live_events as e
        where e.topic = 'hospital:' || tests.id_of('hospitals', 'TSTA')::text || ':front_desk'
            and e.payload ->> 'pair_id' = (tests.pair_of('gk1', 'gk2')).id::text
        order by e.seq $$,
    $$ values ('duplicate_pair_queued', 'open'), ('duplicate_pair_reviewed', 'not_duplicate') $$,
    'the TSTA front desk''s queue is live: the pair queued, then decided'
);

-- Merged, then unmerged (the pair's queue entry follows).
select tests.act_as('a_admin', 'aal2');
select tests.remember(
    'merge', (public.merge_patients(tests.recall('ms2'), tests.recall('ms1'), 'one man, two records')).id
);
select is(
    (tests.pair_of('ms1', 'ms2')).status, 'merged', 'merging a queued pair settles it as merged'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ select d.id from public.patient_duplicates(tests.recall('ms1')) as d $$,
    'the merged record is nobody''s possible duplicate any more'
);
select tests.act_as('a_admin', 'aal2');
select public.unmerge_patients(tests.recall('merge'), 'two brothers after all') is not null as unmerged;
select is(
    (tests.pair_of('ms1', 'ms2')).status,
    'not_duplicate',
    'undoing the merge says they are two people: not proposed again'
);

select * from finish();
rollback;
