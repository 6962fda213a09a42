-- rpc/search_messages on a million messages (bench/engagement_analytics.py, bench/REPORT.md
-- "Engagement analytics and message search"): it built the JSON of every match and ranked it
-- beside a window count before keeping one page, so a common word ("report") cost seconds.
-- Re-created: the matches are ranked and counted from (id, created_at, rank) alone, and only
-- the page's rows are read back and turned into JSON. Same parameters, rows, order and errors.
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
        select m.id, m.created_at, ts_rank_cd(m.search, terms) as score
        from public.messages as m
        where m.search @@ terms
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
