-- rpc/search_messages applies the caller's reach itself (security definer matching, so that the
-- GIN index drives the search under RLS): for every role of the test world it finds exactly the
-- messages a query under the messages' policies finds with the same text condition (and the
-- same filters), with the same total; another hospital's staff find none of a hospital's, a
-- patient only their own, an archived patient and a user without a role nothing.
begin;
select plan(54);

select tests.create_world();

-- Messages at both hospitals: one per registration (the archived patient's too), one archived,
-- one outbound by email; all holding the word reachword, some the phrase "parking free".
insert into public.messages (hospital_id, patient_id, channel, direction, address, body, status, archived_at)
select
    tests.id_of('hospitals', v.code),
    tests.id_of('patients', v.patient),
    v.channel::public.message_channel,
    v.direction::public.message_direction,
    '+919800000000',
    v.body,
    v.status,
    case when v.archived then now() end
from (
    values
    ('TSTA', 'a_patient1', 'whatsapp', 'inbound', 'Reachword: is parking free?', 'received', false),
    ('TSTA', 'a_patient1', 'whatsapp', 'inbound', 'Reachword archived, parking free', 'received', true),
    ('TSTA', 'a_patient1', 'email', 'outbound', 'Reachword: your report is ready', 'queued', false),
    ('TSTA', 'a_patient2', 'sms', 'inbound', 'Reachword from Baljit', 'received', false),
    ('TSTA', 'a_archived', 'sms', 'inbound', 'Reachword, parking free, from an old record', 'received', false),
    ('TSTA', 'ab_patient4', 'whatsapp', 'inbound', 'Reachword at A: parking free?', 'received', false),
    ('TSTB', 'ab_patient4', 'whatsapp', 'inbound', 'Reachword at B, parking free', 'received', false),
    ('TSTB', 'b_patient3', 'sms', 'inbound', 'Reachword: parking free at B?', 'received', false)
) as v (code, patient, channel, direction, body, status, archived);

-- What the caller finds with rpc/search_messages and with private.search_messages_in_reach, each
-- beside what the messages' policies let them read with the same condition.
create function pg_temp.same_reach(who text, query text, patient text default null)
returns setof text
language plpgsql
as $$
declare
    patient_id uuid := case when patient is not null then tests.id_of('patients', patient) end;
    found_by_policy text := format(
        $q$ select m.id, count(*) over () from public.messages as m
            where m.search @@ websearch_to_tsquery('simple', %L) and m.archived_at is null
                and (%L::uuid is null or m.patient_id = %L::uuid) $q$,
        query, patient_id, patient_id
    );
begin
    perform tests.act_as(who);
    return next bag_eq(
        format(
            $q$ select (s.message ->> 'id')::uuid, s.total
                from public.search_messages(%L, patient_id => %L::uuid, page_size => 100) as s $q$,
            query, patient_id
        ),
        found_by_policy,
        format('%s finds with search_messages(%L, %s) exactly what the policies let them read', who, query,
            coalesce(patient, 'any patient'))
    );
    return next bag_eq(
        format(
            $q$ select r.id, count(*) over ()
                from private.search_messages_in_reach(websearch_to_tsquery('simple', %L), %L::uuid, null, null, null)
                as r $q$,
            query, patient_id
        ),
        found_by_policy,
        format('%s: private.search_messages_in_reach(%L) matches the policies too', who, query)
    );
    perform tests.clear_authentication();
end;
$$;

-- Every role of the world (admins, doctors, a revoked doctor, nurses, pharmacists, front desks,
-- CROs, patients with logins, an archived patient, a user without a role): 40 tests.
select pg_temp.same_reach(w.name, 'reachword')
from tests.world as w
where w.kind = 'profiles'
order by w.name;

-- A phrase, filtered by the patient at both hospitals.
select pg_temp.same_reach(w.name, '"parking free"', 'ab_patient4')
from tests.world as w
where w.kind = 'profiles' and w.name in ('a_front_desk', 'b_front_desk')
order by w.name;

-- Not vacuous: who finds what.
create function pg_temp.found(who text, query text default 'reachword')
returns table (patient text, hospital text, body text)
language plpgsql
as $$
begin
    perform tests.act_as(who);
    return query
    select p.name, h.name, s.message ->> 'body'
    from public.search_messages(query, page_size => 100) as s
    join tests.world as p on p.kind = 'patients' and p.id = (s.message ->> 'patient_id')::uuid
    join tests.world as h on h.kind = 'hospitals' and h.id = (s.message ->> 'hospital_id')::uuid;
    perform tests.clear_authentication();
end;
$$;

select bag_eq(
    $$ select patient, hospital from pg_temp.found('a_nurse') $$,
    $$ values ('a_patient1', 'TSTA'), ('a_patient1', 'TSTA'), ('a_patient2', 'TSTA'), ('a_archived', 'TSTA'),
        ('ab_patient4', 'TSTA') $$,
    'a hospital''s staff find its messages, not archived, the archived patient''s included'
);
select bag_eq(
    $$ select patient, hospital from pg_temp.found('b_admin') $$,
    $$ values ('ab_patient4', 'TSTB'), ('b_patient3', 'TSTB') $$,
    'another hospital''s admin finds only their own hospital''s, not the shared patient''s at the other'
);
select bag_eq(
    $$ select body from pg_temp.found('a_patient1') $$,
    $$ values ('Reachword: is parking free?'), ('Reachword: your report is ready') $$,
    'a patient finds their own messages, not the archived one'
);
select is_empty($$ select * from pg_temp.found('a_patient2', 'parking') $$, 'nor anyone else''s');
select is_empty($$ select * from pg_temp.found('a_archived') $$, 'an archived patient finds nothing');
select is_empty($$ select * from pg_temp.found('nobody') $$, 'a user without a role finds nothing');
select is_empty($$ select * from pg_temp.found('a_revoked_doctor') $$, 'nor does a revoked doctor');

-- The service role is not bound by the policies: every message, not archived; also with the
-- generic plan a session's plan cache may choose (the definer branch is in it, not run).
select tests.act_as_service_role();
select results_eq(
    $$ select count(*)::integer, max(s.total)::integer
        from public.search_messages('reachword', page_size => 100) as s $$,
    $$ values (7, 7) $$,
    'the service role finds every hospital''s messages'
);
set local plan_cache_mode = force_generic_plan;
select results_eq(
    $$ select count(*)::integer from public.search_messages('reachword', page_size => 100) as s $$,
    $$ values (7) $$,
    'with a generic plan too'
);
select tests.act_as('a_patient1');
select results_eq(
    $$ select count(*)::integer from public.search_messages('reachword', page_size => 100) as s $$,
    $$ values (2) $$,
    'and a patient their own with it'
);
reset plan_cache_mode;
select tests.clear_authentication();

select * from finish();
rollback;
