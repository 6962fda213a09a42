-- Diagnosis code tables (seed 003 /icd10/codes): a code system's versions, its chapters and
-- blocks, and its codes with descriptions, inclusion terms, synonyms and the billable flag;
-- search by code prefix and by text; every diagnosis names its code system and version and
-- is checked against them.
--
-- The rows are not written by migrations: `carebase codes load` (codes/) loads ICD-10-CM from
-- the simple-icd-10-cm package (the CDC's public-domain release) or another system from a
-- file, and `carebase up` / `carebase db reset` run it. Nobody writes them through the API;
-- every signed-in user reads them.
--
-- Diagnoses recorded before this migration keep their code and get `code_system` ICD-10-CM;
-- their version stays empty until a load checks them (private.check_diagnosis_codes): a code
-- the loaded version holds gets that version, any other is reported in
-- diagnosis_code_findings for the hospital's admins, never changed or deleted.

create table public.code_systems (
    system text not null constraint code_systems_system_format check (
        system ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$'
    ),
    version text not null constraint code_systems_version_format check (
        version ~ '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$'
    ),
    title text not null constraint code_systems_title_present check (length(btrim(title)) > 0),
    source text not null,
    attribution text not null constraint code_systems_attribution_present check (length(btrim(attribution)) > 0),
    is_current boolean not null default false,
    code_count integer not null default 0,
    loaded_at timestamptz not null default now(),
    constraint code_systems_pkey primary key (system, version)
);

create unique index code_systems_one_current on public.code_systems (system) where is_current;

-- Chapters and blocks (ranges of categories). A block and a category may share a name in
-- ICD-10-CM (B99): they live in different tables.
create table public.diagnosis_code_groups (
    system text not null,
    version text not null,
    kind text not null constraint diagnosis_code_groups_kind_known check (kind in ('chapter', 'block')),
    code text not null,
    title text not null,
    chapter text not null,
    sort_key integer not null,
    constraint diagnosis_code_groups_pkey primary key (system, version, kind, code),
    constraint diagnosis_code_groups_system_fkey foreign key (system, version)
    references public.code_systems (system, version) on delete cascade
);

create table public.diagnosis_codes (
    system text not null,
    version text not null,
    code text not null constraint diagnosis_codes_code_format check (code ~ '^[0-9A-Z][0-9A-Z.]{1,15}$'),
    -- The code without its dot, for prefix search ('I219' finds I21.9).
    code_key text generated always as (replace(code, '.', '')) stored,
    description text not null constraint diagnosis_codes_description_present check (length(btrim(description)) > 0),
    parent_code text,
    chapter text not null,
    block text not null,
    billable boolean not null,
    -- A code made by adding a seventh character to a subcategory by the classification's rules
    -- (S72.001A): found by its code and under its parent, left out of text search (51,000 of
    -- ICD-10-CM's 98,000 codes, each its parent's description and the character's meaning).
    extended boolean not null default false,
    -- What the classification lists under the code (inclusion terms, "includes" notes).
    terms text[] not null default '{}',
    -- Other names for it (lay terms, abbreviations) from the loader's synonym file.
    synonyms text[] not null default '{}',
    search_vector tsvector not null,
    sort_key integer not null,
    constraint diagnosis_codes_pkey primary key (system, version, code),
    constraint diagnosis_codes_system_fkey foreign key (system, version)
    references public.code_systems (system, version) on delete cascade
);

create index diagnosis_codes_prefix_idx on public.diagnosis_codes (system, version, code_key text_pattern_ops);
create index diagnosis_codes_search_idx on public.diagnosis_codes using gin (search_vector);
create index diagnosis_codes_parent_idx on public.diagnosis_codes (system, version, parent_code);
create index diagnosis_codes_order_idx on public.diagnosis_codes (system, version, sort_key);

-- What a search matches, each with its weight: the description (A), the synonyms (B), the
-- classification's terms (C). Used by the loader for every row it writes (an empty vector for
-- extended codes).
create function private.diagnosis_code_search_vector(description text, terms text[], synonyms text[])
returns tsvector
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.setweight(pg_catalog.to_tsvector('pg_catalog.english', description), 'A')
        || pg_catalog.setweight(
            pg_catalog.to_tsvector('pg_catalog.english', pg_catalog.array_to_string(synonyms, ' | ')), 'B'
        )
        || pg_catalog.setweight(
            pg_catalog.to_tsvector('pg_catalog.english', pg_catalog.array_to_string(terms, ' | ')), 'C'
        );
$$;

-- A LIKE pattern matching what starts with the text (lower case, % and _ escaped).
create function private.like_prefix(value text)
returns text
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.regexp_replace(pg_catalog.lower(value), '([\\%_])', '\\\1', 'g') operator(pg_catalog.||) '%';
$$;

-- The words of a search as a tsquery text: each a prefix ('hyperten':*), restricted to a weight
-- when one is given ('hyperten':*A), all required.
create function private.prefix_words(words text[], weight text)
returns text
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.array_to_string(
        array(select pg_catalog.quote_literal(w) operator(pg_catalog.||) ':*' operator(pg_catalog.||) weight
            from pg_catalog.unnest(words) as w),
        ' & '
    );
$$;

-- Read by every signed-in user; written only by the loader (the table owner).
alter table public.code_systems enable row level security;
alter table public.diagnosis_code_groups enable row level security;
alter table public.diagnosis_codes enable row level security;

revoke all on public.code_systems, public.diagnosis_code_groups, public.diagnosis_codes from anon, authenticated;
grant select on public.code_systems, public.diagnosis_code_groups, public.diagnosis_codes
to authenticated, service_role;

create policy code_systems_select on public.code_systems for select to authenticated using (true);
create policy diagnosis_code_groups_select on public.diagnosis_code_groups for select to authenticated using (true);
create policy diagnosis_codes_select on public.diagnosis_codes for select to authenticated using (true);

-- The version a search or a new diagnosis uses when none is named: the current one.
create function private.current_code_version(code_system text)
returns text
language sql
stable
set search_path = ''
as $$
    select s.version from public.code_systems as s
    where s.system = current_code_version.code_system and s.is_current;
$$;

-- Diagnoses name their code system and version -------------------------------------------------
alter table public.diagnoses
add column code_system text not null default 'ICD-10-CM',
add column code_version text;

-- The ICD-10 format check gives way to the code table (ICD-10-CM has U07.1, other systems other
-- shapes); what remains only keeps a code a code.
alter table public.diagnoses drop constraint diagnoses_icd10_format;
alter table public.diagnoses add constraint diagnoses_code_format check (icd10_code ~ '^[0-9A-Z][0-9A-Z.]{1,15}$');
create index diagnoses_code_version_idx on public.diagnoses (code_system, code_version, icd10_code);
grant insert (code_system, code_version) on public.diagnoses to authenticated;

-- A diagnosis is written with a code of its system's version (the current one unless it names
-- one): the code is normalised (upper case, the dot after the category: i219 is I21.9), its
-- description defaults to the code's, and a code the version does not hold is refused
-- (PT422 unknown_diagnosis_code; unknown_code_system when none of that system is loaded,
-- unknown_code_version for a version that is not). Codes are public reference data, so the
-- trigger reads them as the writer.
create function private.check_diagnosis_code()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    known public.diagnosis_codes;
    given text := upper(regexp_replace(coalesce(new.icd10_code, ''), '\s', '', 'g'));
begin
    if tg_op = 'UPDATE'
        and (new.icd10_code, new.code_system, new.code_version)
        is not distinct from (old.icd10_code, old.code_system, old.code_version) then
        return new;
    end if;
    if given ~ '^[A-Z][0-9][0-9A-Z][0-9A-Z]{1,4}$' then
        given := left(given, 3) || '.' || substr(given, 4);
    end if;
    if new.code_version is null then
        new.code_version := private.current_code_version(new.code_system);
        if new.code_version is null then
            perform private.raise_unprocessable(
                format('no version of %s is loaded', new.code_system), 'unknown_code_system',
                'load one with `carebase codes load`'
            );
        end if;
    elsif not exists (
        select from public.code_systems as s
        where s.system = new.code_system and s.version = new.code_version
    ) then
        perform private.raise_unprocessable(
            format('%s version %s is not loaded', new.code_system, new.code_version), 'unknown_code_version'
        );
    end if;
    select c.* into known from public.diagnosis_codes as c
    where c.system = new.code_system and c.version = new.code_version and c.code = given;
    if known.code is null then
        perform private.raise_unprocessable(
            format('%s is not a %s %s code', coalesce(nullif(given, ''), '(empty)'), new.code_system, new.code_version),
            'unknown_diagnosis_code',
            'find the code with rpc/search_diagnosis_codes'
        );
    end if;
    new.icd10_code := known.code;
    if new.description is null or btrim(new.description) = '' then
        new.description := known.description;
    end if;
    return new;
end;
$$;

create trigger diagnoses_check_code
before insert or update of icd10_code, code_system, code_version on public.diagnoses
for each row execute function private.check_diagnosis_code();

-- Findings: diagnoses whose code the loaded version does not hold ---------------------------------
create table public.diagnosis_code_findings (
    diagnosis_id uuid primary key references public.diagnoses (id) on delete cascade,
    hospital_id uuid not null references public.hospitals (id) on delete cascade,
    code_system text not null,
    checked_version text not null,
    reason text not null constraint diagnosis_code_findings_reason_known check (reason in ('unknown_diagnosis_code')),
    found_at timestamptz not null default now()
);

create index diagnosis_code_findings_hospital_idx on public.diagnosis_code_findings (hospital_id, found_at);

alter table public.diagnosis_code_findings enable row level security;
revoke all on public.diagnosis_code_findings from anon, authenticated;
grant select on public.diagnosis_code_findings to authenticated, service_role;

create policy diagnosis_code_findings_select_admin on public.diagnosis_code_findings
for select to authenticated
using (hospital_id = any(private.staff_hospital_ids('{hospital_admin}')));

-- Checks the diagnoses of a code system that carry no version yet against its current version:
-- a code it holds gives them that version, any other is a finding (the diagnosis is kept as it
-- is). Run by the loader after every load; returns the number of findings now open. A finding
-- whose diagnosis was corrected since is closed. Security definer: run by the loader, also on
-- Supabase where the role loading may not own the clinical tables.
create function private.check_diagnosis_codes(code_system text)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    current_version constant text := private.current_code_version(check_diagnosis_codes.code_system);
    open_findings integer;
begin
    if current_version is null then
        return 0;
    end if;
    update public.diagnoses as d
    set code_version = current_version
    from public.diagnosis_codes as c
    where d.code_system = check_diagnosis_codes.code_system and d.code_version is null
        and c.system = d.code_system and c.version = current_version and c.code = d.icd10_code;
    delete from public.diagnosis_code_findings as f
    using public.diagnoses as d
    where d.id = f.diagnosis_id and d.code_version is not null;
    insert into public.diagnosis_code_findings (diagnosis_id, hospital_id, code_system, checked_version, reason)
    select d.id, d.hospital_id, d.code_system, current_version, 'unknown_diagnosis_code'
    from public.diagnoses as d
    where d.code_system = check_diagnosis_codes.code_system and d.code_version is null
    on conflict (diagnosis_id) do update set checked_version = excluded.checked_version;
    select count(*) into open_findings from public.diagnosis_code_findings as f
    where f.code_system = check_diagnosis_codes.code_system;
    return open_findings;
end;
$$;

create index diagnoses_unversioned_idx on public.diagnoses (code_system) where code_version is null;

-- Search and read ---------------------------------------------------------------------------------
-- The version to read: the named one, else the current one; refused when not loaded.
create function private.resolve_code_version(code_system text, version text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
    found text;
begin
    if resolve_code_version.version is null then
        found := private.current_code_version(resolve_code_version.code_system);
    else
        select s.version into found from public.code_systems as s
        where s.system = resolve_code_version.code_system and s.version = resolve_code_version.version;
    end if;
    if found is null then
        perform private.raise_not_found(
            format('%s %s is not loaded', resolve_code_version.code_system, coalesce(resolve_code_version.version, '')),
            'unknown_code_system'
        );
    end if;
    return found;
end;
$$;

-- The words of the code descriptions, synonyms and terms of a version (what a misspelled
-- word is corrected to), written by the loader.
create table public.diagnosis_code_words (
    system text not null,
    version text not null,
    word text not null,
    constraint diagnosis_code_words_pkey primary key (system, version, word),
    constraint diagnosis_code_words_system_fkey foreign key (system, version)
    references public.code_systems (system, version) on delete cascade
);

create index diagnosis_code_words_trigram_idx on public.diagnosis_code_words using gin (
    word extensions.gin_trgm_ops
);

alter table public.diagnosis_code_words enable row level security;
revoke all on public.diagnosis_code_words from anon, authenticated;
grant select on public.diagnosis_code_words to authenticated, service_role;
create policy diagnosis_code_words_select on public.diagnosis_code_words for select to authenticated using (true);

-- Fills diagnosis_code_words for a version from its codes (not the seventh-character ones, whose
-- words are their parents'). Run by the loader.
create function private.collect_diagnosis_code_words(code_system text, version text)
returns integer
language sql
volatile
set search_path = ''
as $$
    with added as (
        insert into public.diagnosis_code_words (system, version, word)
        select distinct collect_diagnosis_code_words.code_system, collect_diagnosis_code_words.version, w.word
        from public.diagnosis_codes as c
        cross join lateral pg_catalog.regexp_split_to_table(
            pg_catalog.lower(
                c.description operator(pg_catalog.||) ' '
                operator(pg_catalog.||) pg_catalog.array_to_string(c.synonyms, ' ')
                operator(pg_catalog.||) ' ' operator(pg_catalog.||) pg_catalog.array_to_string(c.terms, ' ')
            ),
            '[^[:alpha:]]+'
        ) as w (word)
        where c.system operator(pg_catalog.=) collect_diagnosis_code_words.code_system
            and c.version operator(pg_catalog.=) collect_diagnosis_code_words.version
            and not c.extended and pg_catalog.length(w.word) operator(pg_catalog.>=) 3
        on conflict do nothing
        returning 1
    )
    select pg_catalog.count(*)::integer from added;
$$;

-- The codes whose description, synonyms or terms hold every word (each as a prefix), best first:
-- where the words matched (the description 1, a synonym 0.9, an inclusion term 0.3), how much
-- of the description they cover (up to 1), the description or a term starting with the query
-- (0.3 each: "chest pain, unspecified", the term "hypertension (arterial)..." of I10), the query
-- being the description or a synonym (1), how general the code is (0.05 a character less), less
-- 0.4 for a residual "Other ..." code (ICD's "other specified", which a bare word should not put
-- above the code it names).
create function private.diagnosis_codes_matching(
    code_system text, code_version text, words text[], query text, billable_only boolean, max_results integer
)
returns table (
    code text, description text, billable boolean, chapter text, block text, score real
)
language plpgsql
stable
set search_path = ''
as $$
declare
    q constant text := lower(btrim(query));
    starts_with constant text := private.like_prefix(q);
    anywhere constant tsquery := to_tsquery('pg_catalog.english', private.prefix_words(words, ''));
    in_description constant tsquery := to_tsquery('pg_catalog.english', private.prefix_words(words, 'A'));
    in_synonyms constant tsquery := to_tsquery('pg_catalog.english', private.prefix_words(words, 'B'));
    in_terms constant tsquery := to_tsquery('pg_catalog.english', private.prefix_words(words, 'C'));
    query_words constant integer := cardinality(words);
begin
    return query
    with matches as (
        select c.code, c.description, c.billable, c.chapter, c.block, c.sort_key,
            case when c.search_vector operator(pg_catalog.@@) in_description then 1.0 else 0 end
            + case when c.search_vector operator(pg_catalog.@@) in_synonyms then 0.9 else 0 end
            + case when c.search_vector operator(pg_catalog.@@) in_terms then 0.3 else 0 end
            + least(1.0, query_words::numeric / greatest(1, length(ts_filter(c.search_vector, '{a}'))))
            + case when lower(c.description) like starts_with then 0.3 else 0 end
            + case when exists (select from unnest(c.terms) as t where lower(t) like starts_with) then 0.3 else 0 end
            + case when lower(c.description) = q then 1.0 else 0 end
            + case when q = any(array(select lower(s) from unnest(c.synonyms) as s)) then 1.0 else 0 end
            + 0.05 * (8 - length(c.code_key))
            - case when lower(c.description) like 'other %' then 0.4 else 0 end as rank
        from public.diagnosis_codes as c
        where c.system = diagnosis_codes_matching.code_system and c.version = diagnosis_codes_matching.code_version
            and c.search_vector operator(pg_catalog.@@) anywhere
            and (not diagnosis_codes_matching.billable_only or c.billable)
    )
    select m.code, m.description, m.billable, m.chapter, m.block, m.rank::real
    from matches as m
    order by m.rank desc, m.sort_key
    limit diagnosis_codes_matching.max_results;
end;
$$;

-- Search: a query shaped like a code (I10, i21.9, E119) lists the codes starting with it in the
-- classification's order, the code itself first; any other query (or a code prefix nothing
-- starts with) searches the text: every word must match a description, synonym or inclusion
-- term (each word as a prefix, for type-ahead), ranked (private.diagnosis_codes_matching); when
-- the words match nothing, each is replaced by the most similar word of the version (trigram
-- similarity: "diabetis melitus" is searched as "diabetes mellitus").
create function public.search_diagnosis_codes(
    query text,
    code_system text default 'ICD-10-CM',
    version text default null,
    billable_only boolean default false,
    max_results integer default 20
)
returns table (
    code text,
    description text,
    billable boolean,
    chapter text,
    block text,
    code_version text,
    matched_by text,
    score real
)
language plpgsql
stable
set search_path = ''
as $$
declare
    q constant text := btrim(coalesce(query, ''));
    key constant text := upper(regexp_replace(q, '[\s.]', '', 'g'));
    found_version text;
    words text [];
    corrected text [];
    found integer := 0;
begin
    if length(q) < 2 then
        perform private.raise_invalid('the query needs at least 2 characters', 'query_too_short');
    end if;
    if max_results is null or max_results not between 1 and 100 then
        perform private.raise_invalid('max_results must be between 1 and 100', 'max_results_out_of_range');
    end if;
    found_version := private.resolve_code_version(search_diagnosis_codes.code_system, search_diagnosis_codes.version);

    if key ~ '^[A-Z][0-9][0-9A-Z]{0,5}$' then
        return query
        select c.code, c.description, c.billable, c.chapter, c.block, c.version,
            'code'::text, (case when c.code_key = key then 1.0 else 0.9 end)::real
        from public.diagnosis_codes as c
        where c.system = search_diagnosis_codes.code_system and c.version = found_version
            and c.code_key operator(pg_catalog.~>=~) key and c.code_key operator(pg_catalog.~<~) (key || '~')
            and (not billable_only or c.billable)
        order by c.code_key <> key, c.sort_key
        limit max_results;
        get diagnostics found = row_count;
        if found > 0 then
            return;
        end if;
    end if;

    -- The words with a lexeme (stop words such as 'of' have none and would match anything).
    words := array(
        select w from regexp_split_to_table(lower(q), '[^[:alnum:]]+') as w
        where w <> '' and to_tsvector('pg_catalog.english', w) <> ''::tsvector
    );
    if cardinality(words) = 0 then
        return;
    end if;
    return query
    select m.code, m.description, m.billable, m.chapter, m.block, found_version, 'text'::text, m.score
    from private.diagnosis_codes_matching(
        search_diagnosis_codes.code_system, found_version, words, q, billable_only, max_results
    ) as m;
    get diagnostics found = row_count;
    if found > 0 then
        return;
    end if;

    corrected := array(
        select coalesce((
            select v.word from public.diagnosis_code_words as v
            where v.system = search_diagnosis_codes.code_system and v.version = found_version
                and v.word operator(extensions.%) w.word
            order by v.word operator(extensions.<->) w.word, v.word
            limit 1
        ), w.word)
        from unnest(words) with ordinality as w (word, n)
        order by w.n
    );
    if corrected = words then
        return;
    end if;
    return query
    select m.code, m.description, m.billable, m.chapter, m.block, found_version, 'similar'::text, m.score
    from private.diagnosis_codes_matching(
        search_diagnosis_codes.code_system, found_version, corrected, array_to_string(corrected, ' '),
        billable_only, max_results
    ) as m;
end;
$$;

-- One code with its place in the classification.
create function public.diagnosis_code(
    code text,
    code_system text default 'ICD-10-CM',
    version text default null
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    found_version text := private.resolve_code_version(diagnosis_code.code_system, diagnosis_code.version);
    key constant text := upper(regexp_replace(coalesce(diagnosis_code.code, ''), '[\s.]', '', 'g'));
    c public.diagnosis_codes;
begin
    select d.* into c from public.diagnosis_codes as d
    where d.system = diagnosis_code.code_system and d.version = found_version and d.code_key = key;
    if c.code is null then
        perform private.raise_not_found(
            format('%s is not a %s %s code', diagnosis_code.code, diagnosis_code.code_system, found_version),
            'unknown_diagnosis_code'
        );
    end if;
    return jsonb_build_object(
        'system', c.system,
        'version', c.version,
        'code', c.code,
        'description', c.description,
        'billable', c.billable,
        'terms', to_jsonb(c.terms),
        'synonyms', to_jsonb(c.synonyms),
        'chapter', (
            select jsonb_build_object('code', g.code, 'title', g.title) from public.diagnosis_code_groups as g
            where g.system = c.system and g.version = c.version and g.kind = 'chapter' and g.code = c.chapter
        ),
        'block', (
            select jsonb_build_object('code', g.code, 'title', g.title) from public.diagnosis_code_groups as g
            where g.system = c.system and g.version = c.version and g.kind = 'block' and g.code = c.block
        ),
        'parent', (
            select jsonb_build_object('code', p.code, 'description', p.description) from public.diagnosis_codes as p
            where p.system = c.system and p.version = c.version and p.code = c.parent_code
        ),
        'children', coalesce((
            select jsonb_agg(
                jsonb_build_object('code', k.code, 'description', k.description, 'billable', k.billable)
                order by k.sort_key
            )
            from public.diagnosis_codes as k
            where k.system = c.system and k.version = c.version and k.parent_code = c.code
        ), '[]')
    );
end;
$$;

grant execute on function private.diagnosis_code_search_vector(text, text[], text[]) to service_role;
grant execute on function private.prefix_words(text[], text) to authenticated, service_role;
grant execute on function private.like_prefix(text) to authenticated, service_role;
grant execute on function private.collect_diagnosis_code_words(text, text) to service_role;
grant execute on function private.diagnosis_codes_matching(text, text, text[], text, boolean, integer)
to authenticated, service_role;
grant execute on function private.current_code_version(text) to authenticated, service_role;
grant execute on function private.resolve_code_version(text, text) to authenticated, service_role;
grant execute on function private.check_diagnosis_code() to authenticated, service_role;
grant execute on function private.check_diagnosis_codes(text) to service_role;
grant execute on function public.search_diagnosis_codes(text, text, text, boolean, integer)
to authenticated, service_role;
grant execute on function public.diagnosis_code(text, text, text) to authenticated, service_role;

comment on table public.code_systems is
'Code systems and their loaded versions (ICD-10-CM from the CDC''s public-domain release; another
system a hospital licenses, from a file), with where the data comes from and the attribution to
show with it. One version of a system is current: searches and new diagnoses use it. Loaded by
`carebase codes load`; every signed-in user reads it.';
comment on column public.code_systems.attribution is
'The notice to show wherever the codes are shown (source, licence).';
comment on column public.code_systems.is_current is
'The version searches and new diagnoses use when they name none (one per system).';
comment on table public.diagnosis_code_groups is
'Chapters and blocks (ranges of categories) of a code system version, e.g. chapter 9 "Diseases
of the circulatory system (I00-I99)", block I10-I1A "Hypertensive diseases". Read by every
signed-in user.';
comment on table public.diagnosis_codes is
'The codes of a code system version (seed 003 GET /icd10/codes): categories and subcategories
with their description, chapter, block, parent, billable flag (a leaf, valid on a claim),
inclusion terms and synonyms. Read by every signed-in user; search with
rpc/search_diagnosis_codes, one code with rpc/diagnosis_code.';
comment on column public.diagnosis_codes.billable is
'A leaf code, valid on a claim (a category with subcategories is not).';
comment on column public.diagnosis_codes.terms is
'What the classification lists under the code (inclusion terms, includes notes).';
comment on column public.diagnosis_codes.synonyms is
'Other names for it (lay terms, abbreviations), from the loader''s synonym file.';
comment on column public.diagnosis_codes.code_key is
'The code without its dot (I219 for I21.9).';
comment on column public.diagnoses.icd10_code is
'The code in code_system (ICD-10-CM unless named), e.g. E11.9; checked against the code table
(PT422 unknown_diagnosis_code), written normalised (i219 is stored as I21.9).';
comment on column public.diagnoses.code_system is
'The code system of icd10_code (default ICD-10-CM).';
comment on column public.diagnoses.code_version is
'The code system version the code was checked against (the current one when not named);
empty only for a diagnosis recorded before versions were kept and not yet checked.';
comment on table public.diagnosis_code_findings is
'Diagnoses whose code the code system''s current version does not hold, found when codes were
loaded (diagnoses recorded before codes were checked). The diagnosis is kept as it was; a
clinician corrects it. Read by the hospital''s admins (the diagnosis itself through
rpc/patient_timeline).';
comment on table public.diagnosis_code_words is
'The words of a code system version''s descriptions, synonyms and terms: a misspelled search word
is corrected to the most similar of them. Read by every signed-in user.';
comment on function public.search_diagnosis_codes(text, text, text, boolean, integer) is
'Search diagnosis codes (seed 003 GET /icd10/codes/search?q=): a code or code prefix (I10, i21,
E119) lists the codes starting with it; words (hypertension, "heart attack", "essential primary
hyperten") search descriptions, synonyms and inclusion terms, best match first; words that match
nothing (a misspelling) are searched as the most similar words the codes use ("diabetis
melitus": diabetes mellitus). matched_by says how: code, text or similar (corrected words). code_system
(default ICD-10-CM), version (default the current one), billable_only, max_results 1..100
(default 20). Errors: 22023 query_too_short (under 2 characters), max_results_out_of_range;
PT404 unknown_code_system.';
comment on function public.diagnosis_code(text, text, text) is
'One diagnosis code (seed 003 GET /icd10/codes/:code), with or without its dot: description,
billable flag, terms, synonyms, chapter, block, parent and children. Errors: PT404
unknown_diagnosis_code, unknown_code_system.';
