-- rpc/search_patients (20261204004000): misspelled and transliterated names, phones by their
-- last digits, MRNs and emails find the right patient, best match first, masked; and nothing
-- beyond the caller's reach, whoever the caller is.
begin;
select plan(30);

select tests.create_world();

select tests.act_as('a_front_desk');
select tests.remember('latin', (public.register_patient(
    tests.id_of('hospitals', 'TSTA'), 'Harpreet Kaur', '+919812345678', date '1992-04-01', 'female',
    'harpreet.kaur@example.in'
)).patient_id);
select tests.remember('gurmukhi', (public.register_patient(
    tests.id_of('hospitals', 'TSTA'), 'ਹਰਪ੍ਰੀਤ ਕੌਰ', '+919812340000', date '1961-09-09', 'female'
)).patient_id);
select tests.remember('devanagari', (public.register_patient(
    tests.id_of('hospitals', 'TSTA'), 'हरप्रीत कौर', '+919800005678', null, 'female'
)).patient_id);
select tests.remember('other', (public.register_patient(
    tests.id_of('hospitals', 'TSTA'), 'Rajinder Sandhu', '+919811111111'
)).patient_id);

create function pg_temp.found(query text, caller text default 'a_front_desk')
returns setof uuid
language plpgsql
as $$
begin
    perform tests.act_as(caller);
    return query select s.id from public.search_patients(query) as s;
end;
$$;

-- Names ------------------------------------------------------------------------------------
select set_eq(
    $$ select pg_temp.found('harprit kour') $$,
    array[tests.recall('latin'), tests.recall('gurmukhi'), tests.recall('devanagari')],
    'a misspelled name finds the patient written in Latin, Gurmukhi and Devanagari script'
);
select set_has(
    $$ select pg_temp.found('ਹਰਪ੍ਰੀਤ') $$,
    $$ values (tests.recall('latin')), (tests.recall('devanagari')) $$,
    'a name typed in Gurmukhi finds it in Latin and Devanagari'
);
select set_has(
    $$ select pg_temp.found('कौर') $$,
    $$ values (tests.id_of('patients', 'a_patient2')) $$,
    'a surname typed in Devanagari finds Baljit Kaur'
);
select is(
    (
        select s.score from public.search_patients('Harpreet Kaur') with ordinality as s
        where s.ordinality = 1
    ),
    1::real,
    'the exact name comes first, with score 1'
);
select ok(
    tests.recall('other') not in (select pg_temp.found('harprit kour')),
    'another name is not found'
);
select is(
    (select array_agg(s.matched_on) from public.search_patients('Rajindar') as s),
    array['name'],
    'a name search says it matched on the name'
);

-- Phones, MRNs, emails ----------------------------------------------------------------------
select set_eq(
    $$ select pg_temp.found('5678') $$,
    array[tests.recall('latin'), tests.recall('devanagari')],
    'the last four digits find the numbers ending in them'
);
select results_eq(
    $$ select id, matched_on, score from public.search_patients('+91 98123 45678') $$,
    $$ values (tests.recall('latin'), 'phone'::text, 1::real) $$,
    'a whole number, spaced as people write it, finds its patient with score 1'
);
select set_eq(
    $$ select pg_temp.found('09812345678') $$,
    array[tests.recall('latin')],
    'a number dialled with a leading 0 finds the same patient'
);
select results_eq(
    $$ select id, matched_on from public.search_patients('tsta-t0002') $$,
    $$ values (tests.id_of('patients', 'a_patient2'), 'mrn'::text) $$,
    'an MRN in any case finds its patient'
);
select set_eq(
    $$ select pg_temp.found('HARPREET.KAUR@example.in') $$,
    array[tests.recall('latin')],
    'an email in any case finds its patient'
);
select is_empty(
    $$ select * from public.search_patients('5678', kind => 'name') $$,
    'kind => name searches names only'
);

-- What is shown -----------------------------------------------------------------------------
select results_eq(
    $$ select phone_masked, email_masked, cardinality(mrns), mrns[1] like 'TSTA-%'
        from public.search_patients('harpreet.kaur@example.in') $$,
    $$ values ('+91******5678', 'h***@example.in', 1, true) $$,
    'phone and email are masked; the MRN of the caller''s hospital is shown'
);

-- Reach ------------------------------------------------------------------------------------
select is_empty(
    $$ select pg_temp.found('harprit kour', 'b_front_desk') $$,
    'another hospital''s front desk finds none of them'
);
select set_eq(
    $$ select pg_temp.found('kaur', 'b_front_desk') $$,
    array[tests.id_of('patients', 'b_patient3')],
    'another hospital''s front desk finds its own Kaur only'
);
select set_eq(
    $$ select pg_temp.found('singh', 'a_doctor') $$,
    array[tests.id_of('patients', 'a_patient1')],
    'a doctor finds the patients of their care team only'
);
select set_eq(
    $$ select pg_temp.found('singh', 'a_patient1') $$,
    array[tests.id_of('patients', 'a_patient1')],
    'a patient finds themselves'
);
select is_empty(
    $$ select pg_temp.found('kaur', 'a_patient1') $$,
    'a patient finds nobody else'
);
select is_empty(
    $$ select pg_temp.found('9800010002', 'a_doctor2') $$,
    'a doctor without patients finds no one by phone'
);
select is_empty(
    $$ select pg_temp.found('old record') $$,
    'the front desk does not find an archived patient'
);
select set_eq(
    $$ select pg_temp.found('old record', 'a_admin') $$,
    array[tests.id_of('patients', 'a_archived')],
    'an admin finds an archived patient'
);
select tests.act_as('a_admin');
select is_empty(
    $$ select * from public.search_patients('old record', status => 'active') $$,
    'status => active leaves archived patients out'
);

-- Filters -----------------------------------------------------------------------------------
select set_eq(
    $$ select id from public.search_patients('harprit kour', born_on => '1961-09-09') $$,
    array[tests.recall('gurmukhi')],
    'born_on filters by date of birth'
);
select set_eq(
    $$ select id from public.search_patients('singh', of_sex => 'male') $$,
    array[tests.id_of('patients', 'a_patient1'), tests.id_of('patients', 'ab_patient4')],
    'of_sex filters by sex'
);
select tests.act_as('a_front_desk');
select is_empty(
    $$ select * from public.search_patients('sukhdev', hospital_id => tests.id_of('hospitals', 'TSTB')) $$,
    'a hospital filter does not tell the front desk where else a patient is registered'
);
select set_eq(
    $$ select id from public.search_patients('sukhdev', hospital_id => tests.id_of('hospitals', 'TSTA')) $$,
    array[tests.id_of('patients', 'ab_patient4')],
    'a hospital filter on the caller''s own hospital'
);

-- Errors ------------------------------------------------------------------------------------
select throws_ok(
    $$ select * from public.search_patients(' a ') $$,
    '22023', 'query must have at least 2 characters', 'a query under 2 characters is refused'
);
select throws_ok(
    $$ select * from public.search_patients('kaur', max_results => 51) $$,
    '22023', 'max_results must be between 1 and 50', 'more than 50 results are refused'
);
select throws_ok(
    $$ select * from public.search_patients('kaur', kind => 'aadhaar') $$,
    '22023', 'kind must be name, phone, mrn or email', 'an unknown kind is refused'
);

-- Every caller finds by name exactly the patients they may read whose names match.
create temporary table callers (name text primary key);
insert into callers
select w.name from tests.world as w
where w.kind = 'profiles' and w.name not like '%revoked%';
grant select on callers to authenticated;

create function pg_temp.reach_differences(query text)
returns setof text
language plpgsql
as $$
declare
    caller text;
    extra bigint;
    missing bigint;
begin
    for caller in select c.name from callers as c order by c.name loop
        perform tests.act_as(caller);
        with searched as (select s.id from public.search_patients(query, max_results => 50) as s),
        readable as (
            select p.id from public.patients as p
            where private.name_key(query) operator(extensions.<%) p.name_key
        )
        select
            (select count(*) from (table searched except table readable) as e),
            (select count(*) from (table readable except table searched) as m)
        into extra, missing;
        if extra > 0 or missing > 0 then
            return next format('%s: %s found beyond reach, %s readable not found', caller, extra, missing);
        end if;
    end loop;
end;
$$;

select is_empty(
    $$ select pg_temp.reach_differences('kaur') union all select pg_temp.reach_differences('singh') $$,
    'for every caller, a name search finds exactly the readable patients of that name'
);

select * from finish();
rollback;
