-- The duplicate review queue and merges (issue 16, items 3 to 5, which landed side by side):
-- - a record merged into another is no longer anyone's possible duplicate (it takes nothing
--   new: a pair naming it would be refused, and with it the registration that found it);
-- - merging a queued pair settles it as merged, and unmerging it as not_duplicate (the unmerge
--   says they are two people, so the pair is not proposed again). The queue's pairs are not
--   references a merge moves (20261205020000): they are about the two records themselves.

create or replace function private.duplicate_matches(patient_id uuid, hospital_id uuid)
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
