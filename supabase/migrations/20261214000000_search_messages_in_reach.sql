-- rpc/search_messages under row-level security (bench/engagement_analytics.py, bench/REPORT.md
-- "Engagement analytics and message search"): as a hospital's staff every search read the whole
-- hospital's messages (500,000 of 1M) and tested the text query on each, 2 to 3 s even for a
-- word few messages hold. The text match (`@@`) is not leakproof, so under the messages'
-- policies Postgres may not use it as an index condition ahead of the policy: the policy's
-- `hospital_id = any(...)` chose the rows and the GIN index went unused.
--
-- Now the matching runs in a security definer function that applies the caller's reach itself,
-- with the helpers the policy messages_select uses (private.staff_hospital_ids() and
-- private.own_patient_id()), beside the text query, so the GIN index finds the matches and the
-- reach filters them. What it returns is exactly what the policy lets the caller read of the
-- messages search looks at (not archived): the hospital's staff their hospitals' messages, the
-- patient their own, nobody another hospital's (supabase/tests/search_messages_reach.test.sql
-- compares the two for every role of the test world). A caller the policies do not bind (the
-- service role) searches the table directly, as before. The page's rows are read back through
-- public.messages, under the caller's policies.

-- The matches of a search among the messages the caller may read, not archived: id, time and
-- rank. Security definer: the reach is applied here (see above), from the caller's identity
-- only, never from an argument.
create function private.search_messages_in_reach(
    terms tsquery,
    patient_id uuid,
    channel public.message_channel,
    date_from timestamptz,
    date_to timestamptz
)
returns table (id uuid, created_at timestamptz, score real)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    -- The reach of policy messages_select: the archived messages it also lets staff read are
    -- never searched.
    hospitals uuid [] := private.staff_hospital_ids();
    own uuid := private.own_patient_id();
begin
    if cardinality(hospitals) = 0 and own is null then
        return;
    end if;
    return query
    select m.id, m.created_at, ts_rank_cd(m.search, terms)
    from public.messages as m
    where m.search @@ terms
        and m.archived_at is null
        and (m.hospital_id = any(hospitals) or m.patient_id = own)
        and (search_messages_in_reach.patient_id is null or m.patient_id = search_messages_in_reach.patient_id)
        and (search_messages_in_reach.channel is null or m.channel = search_messages_in_reach.channel)
        and (search_messages_in_reach.date_from is null or m.created_at >= search_messages_in_reach.date_from)
        and (search_messages_in_reach.date_to is null or m.created_at <= search_messages_in_reach.date_to);
end;
$$;

comment on function private.search_messages_in_reach(
    tsquery, uuid, public.message_channel, timestamptz, timestamptz
) is
'The messages matching a text query (and the filters) that the caller may read, not archived: '
'id, created_at and rank (ts_rank_cd). The reach of policy messages_select, applied beside the '
'text query so the GIN index drives the search (rpc/search_messages). Executable by the service '
'role too (rpc/search_messages names it in a plan the service role runs; it finds nothing for '
'the service role, which rpc/search_messages lets search the table itself).';

grant execute on function private.search_messages_in_reach(
    tsquery, uuid, public.message_channel, timestamptz, timestamptz
) to authenticated, service_role;

-- Re-created (from 20261211001000): the matches come from private.search_messages_in_reach when
-- the caller is bound by the messages' policies; they are ranked and counted from (id,
-- created_at, rank) alone, and only the page's rows are read back and turned into JSON (it built
-- the JSON of every match beside a window count, so a common word cost seconds on 1M messages).
-- Same parameters, rows, order and errors.
create or replace function public.search_messages(
    query text,
    patient_id uuid default null,
    channel public.message_channel default null,
    date_from timestamptz default null,
    date_to timestamptz default null,
    page integer default 1,
    page_size integer default 20
)
returns table (message jsonb, rank real, total bigint)
language plpgsql
stable
set search_path = ''
as $$
declare
    terms tsquery;
    -- Whether the messages' policies bind the caller (not the service role).
    bound boolean := pg_catalog.row_security_active('public.messages'::regclass);
begin
    if length(btrim(coalesce(query, ''))) < 2 then
        perform private.raise_invalid('search for at least 2 characters', 'query_too_short');
    end if;
    if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
        perform private.raise_invalid('page starts at 1; page_size is 1 to 100', 'bad_page');
    end if;
    terms := websearch_to_tsquery('simple'::regconfig, query);
    return query
    with matched as materialized (
        select r.id, r.created_at, r.score
        from private.search_messages_in_reach(
            terms, search_messages.patient_id, search_messages.channel, search_messages.date_from,
            search_messages.date_to
        ) as r
        where bound
        union all
        select m.id, m.created_at, ts_rank_cd(m.search, terms)
        from public.messages as m
        where not bound
            and m.search @@ terms
            and m.archived_at is null
            and (search_messages.patient_id is null or m.patient_id = search_messages.patient_id)
            and (search_messages.channel is null or m.channel = search_messages.channel)
            and (search_messages.date_from is null or m.created_at >= search_messages.date_from)
            and (search_messages.date_to is null or m.created_at <= search_messages.date_to)
    ),

    counted as (
        select count(*) as n from matched
    ),

    shown as (
        select x.id, x.created_at, x.score
        from matched as x
        order by x.score desc, x.created_at desc, x.id
        limit page_size offset (page - 1) * page_size
    )

    select to_jsonb(m) - 'search', s.score, c.n
    from shown as s
    join public.messages as m on m.id = s.id
    cross join counted as c
    order by s.score desc, s.created_at desc, s.id;
end;
$$;
