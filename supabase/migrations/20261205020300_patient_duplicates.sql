-- Possible duplicate patients (issue 16, item 3; seed 001 GET /patients/{id}/duplicates): a
-- scored match that explains itself, a review queue per hospital, and a "not a duplicate"
-- decision that is never proposed again.
--
-- Matching stays inside one hospital: a hospital's front office compares the patients
-- registered there, and never learns that a person is also registered somewhere else.
-- Candidates are blocked on cheap keys (the same phone, the same date of birth, the same email,
-- the nearest names of the trigram index), then scored. Never on the phone alone: families
-- share one, so a pair is proposed only when the names are alike as well. A record merged into
-- another (20261205020000) is nobody's possible duplicate; merging a queued pair settles it as
-- merged, unmerging it as not_duplicate (the unmerge says they are two people).

-- The review queue: one row per pair of records ever proposed (or decided from a patient's
-- screen), the lower id first, in the queue of the hospital where it was found.
create table public.patient_duplicate_pairs (
    id uuid primary key default gen_random_uuid(),
    hospital_id uuid not null references public.hospitals (id),
    patient_id uuid not null references public.patients (id),
    other_patient_id uuid not null references public.patients (id),
    score numeric(4, 3) not null,
    parts jsonb not null,
    status text not null default 'open',
    detected_at timestamptz not null default now(),
    reviewed_by uuid references auth.users (id),
    reviewed_at timestamptz,
    review_note text,
    constraint patient_duplicate_pairs_lower_id_first check (patient_id < other_patient_id),
    constraint patient_duplicate_pairs_once unique (patient_id, other_patient_id),
    constraint patient_duplicate_pairs_score_range check (score between 0 and 1),
    constraint patient_duplicate_pairs_status_known check (status in ('open', 'not_duplicate', 'merged'))
);

-- The queue's order: a hospital's open pairs, best first.
create index patient_duplicate_pairs_queue_idx on public.patient_duplicate_pairs (hospital_id, status, score desc);
create index patient_duplicate_pairs_other_patient_idx on public.patient_duplicate_pairs (other_patient_id);
create index patient_duplicate_pairs_reviewed_by_idx on public.patient_duplicate_pairs (reviewed_by);

alter table public.patient_duplicate_pairs enable row level security;
revoke all on public.patient_duplicate_pairs from anon, authenticated, service_role;
grant select on public.patient_duplicate_pairs to authenticated, service_role;

-- Written only by the queue trigger and rpc/review_duplicate (security definer, below).
create policy patient_duplicate_pairs_select_front_office_or_admin on public.patient_duplicate_pairs
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')));

create trigger audit_row_change
after insert or update or delete on public.patient_duplicate_pairs
for each row execute function private.audit_row_change('patient_id');

comment on table public.patient_duplicate_pairs is
'Possible duplicate patients to review (seed 001 GET /patients/{id}/duplicates, as a queue): '
'read ?hospital_id=eq.<h>&status=eq.open&order=score.desc. Proposed when a registration '
'makes a patient look like another registered at the same hospital; decided with '
'rpc/review_duplicate. Readable by the front desk, CROs and admins of the pair''s hospital.';
comment on column public.patient_duplicate_pairs.hospital_id is
'The hospital whose queue holds the pair (where both records were registered when it was found).';
comment on column public.patient_duplicate_pairs.patient_id is 'One record of the pair (the lower id).';
comment on column public.patient_duplicate_pairs.other_patient_id is 'The other record (the higher id).';
comment on column public.patient_duplicate_pairs.score is
'How alike the records were when compared, 0..1 (proposed from 0.55).';
comment on column public.patient_duplicate_pairs.parts is
'Why: [{part, points, detail}], e.g. {"part": "date_of_birth", "points": 0.25, "detail": '
'"the same date"}; parts are name, phonetic_key, date_of_birth, sex, phone, email, address, '
'national_id. Never a value of either record.';
comment on column public.patient_duplicate_pairs.status is
'open: to review; not_duplicate: two people, never proposed again; merged: made one record.';
comment on column public.patient_duplicate_pairs.detected_at is 'When the pair was first proposed.';
comment on column public.patient_duplicate_pairs.reviewed_by is 'Who last decided on the pair.';
comment on column public.patient_duplicate_pairs.reviewed_at is 'When the pair was last decided.';
comment on column public.patient_duplicate_pairs.review_note is 'The reviewer''s reason, if given.';
comment on constraint patient_duplicate_pairs_patient_id_fkey on public.patient_duplicate_pairs is
'Kept at a merge: the pair is about the two records themselves (a merge settles it as merged).';
comment on constraint patient_duplicate_pairs_other_patient_id_fkey on public.patient_duplicate_pairs is
'Kept at a merge: the pair is about the two records themselves (a merge settles it as merged).';
comment on policy patient_duplicate_pairs_select_front_office_or_admin on public.patient_duplicate_pairs is
'The front desk, CROs and admins of the pair''s hospital read its queue.';

-- The date of birth is a blocking key.
create index patients_date_of_birth_idx on public.patients (date_of_birth);

-- How alike two patient records are, 0..1, and why: the parts that counted, each with its
-- points (negative ones count against). Weights: the name (trigram similarity of the phonetic
-- keys, up to 0.30, and 0.10 more when the keys are equal), the date of birth (0.25 the same,
-- 0.10 for a typing slip: day and month swapped, or one digit off; -0.30 otherwise), sex
-- (0.05, -0.20), phone and email (0.10 each), the address (0.05), and a national number of the
-- same kind that differs (-0.50: one person holds one number, and the same number cannot be
-- recorded twice). Security definer: it reads the identifiers' blind indexes, which no API
-- role reads; it returns numbers, never a value.
create function private.duplicate_score(a public.patients, b public.patients)
returns table (score numeric, parts jsonb, name_similarity real)
language sql
stable
security definer
set search_path = ''
as $$
    with facts as (
        select
            extensions.similarity(a.name_key, b.name_key) as name_similarity,
            case
                when a.date_of_birth is null or b.date_of_birth is null then null
                when a.date_of_birth = b.date_of_birth then 'same'
                when (
                    extract(year from a.date_of_birth) = extract(year from b.date_of_birth)
                    and extract(month from a.date_of_birth) = extract(day from b.date_of_birth)
                    and extract(day from a.date_of_birth) = extract(month from b.date_of_birth)
                )
                or (
                    -- one digit off: one field differs, by a single digit of its written form
                    (to_char(a.date_of_birth, 'YYYYMMDD') <> to_char(b.date_of_birth, 'YYYYMMDD'))
                    and (
                        select count(*) from generate_series(1, 8) as i
                        where substr(to_char(a.date_of_birth, 'YYYYMMDD'), i, 1)
                            <> substr(to_char(b.date_of_birth, 'YYYYMMDD'), i, 1)
                    ) = 1
                ) then 'typo'
                else 'different'
            end as birth,
            exists (
                select from public.patient_identifiers as x
                join public.patient_identifiers as y on y.kind = x.kind and y.blind_index <> x.blind_index
                where x.patient_id = a.id and y.patient_id = b.id
            ) as national_id_differs
    ),
    points as (
        select 'name' as part, round((0.30 * f.name_similarity)::numeric, 3) as points,
            format('similarity %s', round(f.name_similarity::numeric, 2)) as detail
        from facts as f
        union all
        select 'phonetic_key', 0.10, 'the names sound the same'
        where a.name_key = b.name_key
        union all
        select 'date_of_birth',
            case f.birth when 'same' then 0.25 when 'typo' then 0.10 else -0.30 end,
            case f.birth
                when 'same' then 'the same date'
                when 'typo' then 'day and month swapped or one digit off'
                else 'different dates'
            end
        from facts as f
        where f.birth is not null
        union all
        select 'sex', case when a.sex = b.sex then 0.05 else -0.20 end,
            case when a.sex = b.sex then 'the same' else 'different' end
        where a.sex is not null and b.sex is not null
        union all
        select 'phone', 0.10, 'the same number' where a.phone = b.phone
        union all
        select 'email', 0.10, 'the same address' where a.email operator(extensions.=) b.email
        union all
        select 'address', 0.05, 'the same postal code or district and city'
        where a.postal_code = b.postal_code or (a.district = b.district and a.city = b.city)
        union all
        select 'national_id', -0.50, 'different numbers of the same kind'
        from facts as f
        where f.national_id_differs
    )
    select
        greatest(0, least(1, sum(p.points)))::numeric(4, 3),
        jsonb_agg(jsonb_build_object('part', p.part, 'points', p.points, 'detail', p.detail) order by p.points desc),
        (select f.name_similarity from facts as f)
    from points as p
$$;

comment on function private.duplicate_score(public.patients, public.patients) is
'How alike two patient records are (0..1) and the parts that counted, each with its points '
'and a reason; no value of either record.';

-- A pair is proposed from this score, and only when the names are alike too.
create function private.duplicate_threshold()
returns numeric
language sql
immutable
set search_path = ''
as $$ select 0.55 $$;

comment on function private.duplicate_threshold() is
'The score from which two records are proposed as one person (names at least half alike too).';

-- The possible duplicates of one patient among the live registrations of a hospital: blocked
-- on the same phone, email or date of birth, and the 50 nearest names; scored; pairs decided
-- "not a duplicate" left out. Security definer: it reads every registration of the hospital,
-- and is called only by the queue trigger and rpc/patient_duplicates, which check the caller.
create function private.duplicate_matches(patient_id uuid, hospital_id uuid)
returns table (other_patient_id uuid, score numeric, parts jsonb)
language sql
stable
security definer
set search_path = ''
as $$
    with me as (
        select p.* from public.patients as p
        where p.id = duplicate_matches.patient_id and p.deleted_at is null and p.merged_into is null
    ),
    blocked as (
        select o.id from me join public.patients as o on o.phone = me.phone
        union
        -- citext's own operator, which its index serves (not text's, found by the empty search_path)
        select o.id from me join public.patients as o on o.email operator(extensions.=) me.email
        union
        select o.id from me join public.patients as o on o.date_of_birth = me.date_of_birth
        union
        select n.id from me cross join lateral (
            select o.id from public.patients as o
            where o.name_key operator(extensions.%) me.name_key
            order by o.name_key operator(extensions.<->) me.name_key
            limit 50
        ) as n
    )
    select o.id, s.score, s.parts
    from me
    join blocked as b on b.id <> me.id
    -- Names at least half alike first: a pair is never proposed without, and scoring is the
    -- costly part.
    join public.patients as o
        on o.id = b.id and o.deleted_at is null and o.merged_into is null
        and extensions.similarity(o.name_key, me.name_key) >= 0.5
    cross join lateral private.duplicate_score(me, o) as s
    where s.score >= private.duplicate_threshold()
        and exists (
            select from public.patient_registrations as r
            where r.patient_id = o.id and r.hospital_id = duplicate_matches.hospital_id and r.deleted_at is null
        )
        and not exists (
            select from public.patient_duplicate_pairs as d
            where d.patient_id = least(me.id, o.id) and d.other_patient_id = greatest(me.id, o.id)
                and d.status = 'not_duplicate'
        )
$$;

comment on function private.duplicate_matches(uuid, uuid) is
'The possible duplicates of a patient among the live registrations of a hospital, scored, '
'without the pairs decided "not a duplicate".';

-- A new registration is compared with the hospital's other patients, and what looks like the
-- same person is queued for review (a pair already known keeps its status: a "not a
-- duplicate" stays decided). Security definer: it writes the queue, which no API role writes.
create function private.queue_possible_duplicates()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.patient_duplicate_pairs (hospital_id, patient_id, other_patient_id, score, parts)
    select
        new.hospital_id,
        least(new.patient_id, m.other_patient_id),
        greatest(new.patient_id, m.other_patient_id),
        m.score,
        m.parts
    from private.duplicate_matches(new.patient_id, new.hospital_id) as m
    on conflict (patient_id, other_patient_id) do nothing;
    return null;
end;
$$;

comment on function private.queue_possible_duplicates() is
'Queues for review the patients of the hospital that a new registration''s patient looks like.';

create trigger patient_registrations_queue_possible_duplicates
after insert on public.patient_registrations
for each row when (new.deleted_at is null)
execute function private.queue_possible_duplicates();

-- The queue, live: a pair queued or decided is news for the hospital's front desk, CROs and
-- admins (hospital:<hospital>:<role> topics; ids, status and score only, never a name).
create function private.live_duplicate_pair_events()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform private.raise_live_event(
        array[
            private.hospital_topic(new.hospital_id, 'front_desk'),
            private.hospital_topic(new.hospital_id, 'cro'),
            private.hospital_topic(new.hospital_id, 'hospital_admin')
        ],
        case when tg_op = 'INSERT' then 'duplicate_pair_queued' else 'duplicate_pair_reviewed' end,
        jsonb_build_object(
            'pair_id', new.id, 'hospital_id', new.hospital_id, 'status', new.status, 'score', new.score,
            'occurred_at', now()
        )
    );
    return null;
end;
$$;

comment on function private.live_duplicate_pair_events() is
'Raises duplicate_pair_queued / duplicate_pair_reviewed {pair_id, hospital_id, status, score} '
'for the front desk, CROs and admins of the pair''s hospital.';

create trigger live_events_duplicate_pairs
after insert or update of status on public.patient_duplicate_pairs
for each row execute function private.live_duplicate_pair_events();

-- The API ------------------------------------------------------------------------------------

-- The possible duplicates of a patient in each hospital where the caller works at the front
-- office or as admin and the patient is registered. Security definer: matching reads every
-- registration of those hospitals (private.duplicate_matches, which no API role may call, as
-- it would match at any hospital); what the caller then reads of the matches is up to their
-- own policies (rpc/patient_duplicates).
create function private.possible_duplicates(patient_id uuid)
returns table (other_patient_id uuid, hospital_id uuid, score numeric, parts jsonb)
language sql
stable
security definer
set search_path = ''
as $$
    select m.other_patient_id, h.id, m.score, m.parts
    from unnest(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')) as h (id)
    cross join lateral private.duplicate_matches(possible_duplicates.patient_id, h.id) as m
    where exists (
        select from public.patient_registrations as r
        where r.patient_id = possible_duplicates.patient_id and r.hospital_id = h.id and r.deleted_at is null
    )
$$;

comment on function private.possible_duplicates(uuid) is
'The possible duplicates of a patient in the hospitals where the caller reviews duplicates.';

grant execute on function private.possible_duplicates(uuid) to authenticated;

-- Security invoker: the patient, the matched records, their MRNs and the pairs are read under
-- the caller's own policies.
create function public.patient_duplicates(patient_id uuid)
returns table (
    id uuid,
    full_name text,
    date_of_birth date,
    sex public.sex,
    mrns text[],
    score numeric,
    parts jsonb,
    status text,
    hospital_id uuid
)
language plpgsql
stable
set search_path = ''
as $$
begin
    if not exists (select from public.patients as p where p.id = patient_duplicates.patient_id) then
        -- The same answer for a patient who does not exist and one beyond the caller's reach.
        perform private.raise_not_found('patient not found');
    end if;
    -- The best match first (per record, the hospital where it scores highest).
    return query
    select best.* from (
        select distinct on (o.id)
            o.id,
            o.full_name,
            o.date_of_birth,
            o.sex,
            array(
                select r.mrn from public.patient_registrations as r
                where r.patient_id = o.id and r.hospital_id = m.hospital_id and r.deleted_at is null
                order by r.mrn
            ),
            m.score,
            m.parts,
            coalesce(d.status, 'open'),
            m.hospital_id
        from private.possible_duplicates(patient_duplicates.patient_id) as m
        inner join public.patients as o on o.id = m.other_patient_id
        left join public.patient_duplicate_pairs as d
            on d.patient_id = least(patient_duplicates.patient_id, o.id)
            and d.other_patient_id = greatest(patient_duplicates.patient_id, o.id)
        order by o.id, m.score desc
    ) as best
    order by best.score desc, best.id;
end;
$$;

comment on function public.patient_duplicates(uuid) is
'The patients who may be the same person as this one (seed 001 GET /patients/{id}/duplicates), '
'among the patients registered where the caller works at the front office or as admin: score '
'0..1 with its parts ([{part, points, detail}]), the pair''s status (open or merged; pairs '
'decided not_duplicate are left out) and the hospital. Never on a shared phone alone. '
'PT404 for a patient who does not exist or whom the caller may not read.';

grant execute on function public.patient_duplicates(uuid) to authenticated;

-- Records a decision on a pair for one hospital's queue, creating the pair when it was seen on
-- a patient's screen before being queued. Security definer: it writes the queue, for a caller
-- who reviews at that hospital, where both records have a live registration (so both are
-- readable by the caller, through the front office branch of the patients policy).
create function private.record_duplicate_review(
    hospital_id uuid, patient_id uuid, other_patient_id uuid, decision text, note text
)
returns public.patient_duplicate_pairs
language plpgsql
security definer
set search_path = ''
as $$
declare
    a constant uuid := least(patient_id, other_patient_id);
    b constant uuid := greatest(patient_id, other_patient_id);
    pair public.patient_duplicate_pairs;
begin
    if not coalesce(
        hospital_id = any(private.staff_hospital_ids('{front_desk,cro,hospital_admin}'))
        and (
            select count(distinct r.patient_id) from public.patient_registrations as r
            where r.hospital_id = record_duplicate_review.hospital_id and r.deleted_at is null
                and r.patient_id in (a, b)
        ) = 2,
        false
    ) then
        perform private.raise_forbidden(
            'both patients must be registered at a hospital where you review duplicates',
            'not_registered_together'
        );
    end if;
    select * into pair from public.patient_duplicate_pairs as d
    where d.patient_id = a and d.other_patient_id = b
    for update;
    if pair.status = 'merged' then
        perform private.raise_conflict('the pair was merged', 'pair_merged', 'unmerge the records first');
    end if;
    if pair.id is null then
        insert into public.patient_duplicate_pairs (
            hospital_id, patient_id, other_patient_id, score, parts, status, reviewed_by, reviewed_at, review_note
        )
        select record_duplicate_review.hospital_id, a, b, s.score, s.parts, decision, (select auth.uid()), now(), note
        from public.patients as x
        cross join public.patients as y
        cross join lateral private.duplicate_score(x, y) as s
        where x.id = a and y.id = b
        returning * into pair;
    else
        update public.patient_duplicate_pairs as d
        set status = decision, reviewed_by = (select auth.uid()), reviewed_at = now(), review_note = note
        where d.id = pair.id
        returning * into pair;
    end if;
    return pair;
end;
$$;

comment on function private.record_duplicate_review(uuid, uuid, uuid, text, text) is
'Sets a pair''s review decision (creating the pair if needed) for a reviewer of the hospital '
'where both are registered; refuses a merged pair.';

grant execute on function private.record_duplicate_review(uuid, uuid, uuid, text, text) to authenticated;

create function public.review_duplicate(
    patient_id uuid, other_patient_id uuid, decision text, note text default null
)
returns public.patient_duplicate_pairs
language plpgsql
volatile
set search_path = ''
as $$
declare
    at_hospital uuid;
begin
    if decision is null or decision not in ('not_duplicate', 'open') then
        perform private.raise_invalid('decision must be not_duplicate or open', 'unknown_decision');
    end if;
    if patient_id = other_patient_id then
        perform private.raise_invalid('a patient is not a duplicate of themselves', 'same_patient');
    end if;
    -- Both records as the caller may read them: one they cannot read is not found.
    if (
        select count(*) from public.patients as p
        where p.id in (review_duplicate.patient_id, review_duplicate.other_patient_id)
    ) < 2 then
        perform private.raise_not_found('patient not found');
    end if;
    -- A hospital where the caller reviews and both are registered: the queue the pair is in
    -- when it is there, else the first such hospital (none: refused by the call below).
    select h.id into at_hospital
    from unnest(private.staff_hospital_ids('{front_desk,cro,hospital_admin}')) as h (id)
    left join public.patient_duplicate_pairs as d
        on d.patient_id = least(review_duplicate.patient_id, review_duplicate.other_patient_id)
        and d.other_patient_id = greatest(review_duplicate.patient_id, review_duplicate.other_patient_id)
    where (
        select count(distinct r.patient_id) from public.patient_registrations as r
        where r.hospital_id = h.id and r.deleted_at is null
            and r.patient_id in (review_duplicate.patient_id, review_duplicate.other_patient_id)
    ) = 2
    order by d.hospital_id is distinct from h.id, h.id
    limit 1;
    return private.record_duplicate_review(at_hospital, patient_id, other_patient_id, decision, note);
end;
$$;

comment on function public.review_duplicate(uuid, uuid, text, text) is
'Decides whether two patients are one person, for the review queue: decision not_duplicate '
'(never proposed again) or open (undo). For the front desk, CROs and admins of a hospital '
'where both are registered. Errors: 22023 unknown_decision, same_patient; PT404 a patient '
'not found or not readable; PT403 not_registered_together; PT409 pair_merged.';

grant execute on function public.review_duplicate(uuid, uuid, text, text) to authenticated;

-- Merges (20261205020000) ---------------------------------------------------------------------

-- Security definer: the queue is written by nobody else; the merge journal's trigger runs as
-- whoever merges.
create function private.settle_duplicate_pair()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    merged constant boolean := tg_op = 'INSERT';
begin
    if not merged and not (old.unmerged_at is null and new.unmerged_at is not null) then
        return null;
    end if;
    update public.patient_duplicate_pairs as d
    set
        status = case when merged then 'merged' else 'not_duplicate' end,
        reviewed_by = case when merged then new.merged_by else new.unmerged_by end,
        reviewed_at = now(),
        review_note = case when merged then new.reason else new.unmerge_reason end
    where d.patient_id = least(new.source_id, new.target_id)
        and d.other_patient_id = greatest(new.source_id, new.target_id);
    return null;
end;
$$;

comment on function private.settle_duplicate_pair() is
'Trigger on patient_merges: the merged pair''s queue entry becomes merged, and not_duplicate '
'when the merge is undone.';

create trigger patient_merges_settle_duplicate_pair
after insert or update of unmerged_at on public.patient_merges
for each row execute function private.settle_duplicate_pair();
