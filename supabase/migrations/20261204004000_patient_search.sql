-- Finding a patient (seed 001 `GET /patients/search`; issue 16, item 1; issue 12's name search):
-- rpc/search_patients by name (misspelled, in Latin, Gurmukhi or Devanagari script), by phone
-- (whole or its last digits), by MRN and by email, within the caller's reach, from indexes.
--
-- Why not `GET /patients?full_name=ilike.*kaur*`: under row-level security Postgres applies a
-- filter before the policy only when its operator is leakproof, and ilike is not (nor are the
-- trigram operators), so that request reads every patient through the policy and only then
-- the name: 858 ms over 100,000 patients. The search therefore finds candidates from indexes in
-- a security definer function, already narrowed to the caller's hospitals and care team, and
-- reads the patients themselves under the caller's policies, which decide what is returned.

create extension if not exists unaccent with schema extensions;

-- Names -----------------------------------------------------------------------------------

-- The Latin reading of a name written in Devanagari or Gurmukhi (other text is returned as
-- it is): each consonant carries the vowel 'a' unless a vowel sign or a virama follows, and
-- that inherent 'a' is not spoken at the end of a word or between an open syllable and a
-- consonant followed by a vowel (Hindi and Punjabi schwa deletion): ਹਰਪ੍ਰੀਤ reads harpriit,
-- गुरप्रीत gurpriit, ਕੌਰ kaur, ਅੰਜਲੀ anjalii. No library for this runs inside Postgres; this is the common scheme.
create function private.latin_reading(name text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
    consonants constant jsonb := '{
        "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j",
        "झ": "jh", "ञ": "n", "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t",
        "थ": "th", "द": "d", "ध": "dh", "न": "n", "प": "p", "फ": "ph", "ब": "b", "भ": "bh",
        "म": "m", "य": "y", "र": "r", "ल": "l", "ळ": "l", "व": "v", "श": "sh", "ष": "sh",
        "स": "s", "ह": "h", "क़": "q", "ख़": "kh", "ग़": "g", "ज़": "z", "ड़": "r", "ढ़": "rh",
        "फ़": "f", "य़": "y",
        "ਕ": "k", "ਖ": "kh", "ਗ": "g", "ਘ": "gh", "ਙ": "n", "ਚ": "ch", "ਛ": "chh", "ਜ": "j",
        "ਝ": "jh", "ਞ": "n", "ਟ": "t", "ਠ": "th", "ਡ": "d", "ਢ": "dh", "ਣ": "n", "ਤ": "t",
        "ਥ": "th", "ਦ": "d", "ਧ": "dh", "ਨ": "n", "ਪ": "p", "ਫ": "ph", "ਬ": "b", "ਭ": "bh",
        "ਮ": "m", "ਯ": "y", "ਰ": "r", "ਲ": "l", "ਲ਼": "l", "ਵ": "v", "ਸ਼": "sh", "ਸ": "s",
        "ਹ": "h", "ਖ਼": "kh", "ਗ਼": "g", "ਜ਼": "z", "ੜ": "r", "ਫ਼": "f"
    }';
    vowels constant jsonb := '{
        "अ": "a", "आ": "aa", "इ": "i", "ई": "ii", "उ": "u", "ऊ": "uu", "ऋ": "ri", "ए": "e",
        "ऐ": "ai", "ओ": "o", "औ": "au", "ऑ": "o",
        "ਅ": "a", "ਆ": "aa", "ਇ": "i", "ਈ": "ii", "ਉ": "u", "ਊ": "uu", "ਏ": "e", "ਐ": "ai",
        "ਓ": "o", "ਔ": "au"
    }';
    vowel_signs constant jsonb := '{
        "ा": "aa", "ि": "i", "ी": "ii", "ु": "u", "ू": "uu", "ृ": "ri", "े": "e", "ै": "ai",
        "ो": "o", "ौ": "au", "ॉ": "o", "ॅ": "e",
        "ਾ": "aa", "ਿ": "i", "ੀ": "ii", "ੁ": "u", "ੂ": "uu", "ੇ": "e", "ੈ": "ai", "ੋ": "o",
        "ੌ": "au"
    }';
    viramas constant text[] := array[U&'\094D', U&'\0A4D'];
    nasals constant text[] := array[U&'\0901', U&'\0902', U&'\0A01', U&'\0A02', U&'\0A70'];
    nuktas constant text[] := array[U&'\093C', U&'\0A3C'];
    ignored constant text[] := array[U&'\0A71', U&'\0903', U&'\0A03'];
    reading text := '';
    letter text;
    -- The syllables of the word being read: consonant ('' for a vowel letter), vowel (null for
    -- the inherent 'a', '' after a virama), nasal (a bindi, tippi or anusvara after it).
    sounds text[] := '{}';
    vowels_of text[] := '{}';
    nasal boolean[] := '{}';
    silent boolean[];
    n integer;
    j integer;
begin
    if name !~ '[\u0900-\u097F\u0A00-\u0A7F]' then
        return name;
    end if;
    -- A space appended ends the last word like any other.
    foreach letter in array regexp_split_to_array(name || ' ', '') loop
        n := cardinality(sounds);
        if consonants ? letter then
            sounds := sounds || (consonants ->> letter);
            vowels_of := vowels_of || null::text;
            nasal := nasal || false;
        elsif vowels ? letter then
            sounds := sounds || ''::text;
            vowels_of := vowels_of || (vowels ->> letter);
            nasal := nasal || false;
        elsif vowel_signs ? letter and n > 0 then
            vowels_of[n] := vowel_signs ->> letter;
        elsif letter = any(viramas) and n > 0 then
            vowels_of[n] := '';
        elsif letter = any(nasals) and n > 0 then
            nasal[n] := true;
        elsif letter = any(nuktas) and n > 0 then
            -- A dot below makes another sound (NFC keeps ड़ as ड and the dot): ड़ r, क़ q, ज़ z.
            sounds[n] := case sounds[n]
                when 'd' then 'r' when 'dh' then 'rh' when 'k' then 'q' when 'j' then 'z'
                when 'ph' then 'f' else sounds[n]
            end;
        elsif letter = any(ignored) then
            continue;
        else
            -- The word ends: decide which inherent vowels are silent, right to left.
            silent := array_fill(false, array[n]);
            for i in reverse n..1 loop
                continue when vowels_of[i] is not null or sounds[i] = '' or nasal[i];
                if i = n then
                    silent[i] := n > 1;
                elsif i > 1 and vowels_of[i - 1] is distinct from '' and not nasal[i - 1] then
                    j := i + 1;
                    while j < n and vowels_of[j] = '' and sounds[j] <> '' loop
                        j := j + 1;
                    end loop;
                    silent[i] := sounds[j] <> '' and vowels_of[j] is distinct from '' and not silent[j];
                end if;
            end loop;
            for i in 1..n loop
                reading := reading || sounds[i]
                    || coalesce(vowels_of[i], case when silent[i] then '' else 'a' end)
                    || case when nasal[i] then 'n' else '' end;
            end loop;
            reading := reading || letter;
            sounds := '{}';
            vowels_of := '{}';
            nasal := '{}';
        end if;
    end loop;
    return left(reading, -1);
end;
$$;

comment on function private.latin_reading(text) is
'The Latin reading of a name in Devanagari or Gurmukhi script (other text unchanged), with '
'Hindi/Punjabi schwa deletion: for matching names across scripts, not for display.';

-- unaccent() is stable (its dictionary could change); names are indexed with this fixed one.
create function private.unaccented(value text)
returns text
language sql
immutable
parallel safe
set search_path = ''
return extensions.unaccent('extensions.unaccent'::regdictionary, value);

comment on function private.unaccented(text) is
'unaccent() with its dictionary named, so that indexes may use it.';

-- A name as it sounds, in Latin letters: the spellings of one Indian name meet here (Harpreet,
-- Harprit and ਹਰਪ੍ਰੀਤ; Kaur and Kour; Rajinder and राजिंदर; Singh and सिंह).
create function private.name_key(name text)
returns text
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
    key text := lower(private.unaccented(private.latin_reading(name)));
begin
    key := regexp_replace(key, '[^a-z]+', ' ', 'g');
    key := translate(key, 'wqz', 'vkj');
    key := replace(key, 'x', 'ks');
    key := replace(key, 'ph', 'f');
    key := regexp_replace(key, '([bcdgjknprst])h', '\1', 'g'); -- aspirates: Sukhdev, Sandhu
    key := regexp_replace(key, 'ee|ii', 'i', 'g'); -- long vowels: Harpreet, हरप्रीत (harpriit)
    key := regexp_replace(key, 'oo|uu', 'u', 'g');
    key := replace(key, 'ou', 'au'); -- Kour, Kaur
    key := replace(key, 'er', 'ar'); -- Rajinder, ਰਾਜਿੰਦਰ (raajindar); Verma, वर्मा (varmaa)
    key := regexp_replace(key, '([aeiou])y([aeiou])', '\1\2', 'g'); -- Priya, ਪ੍ਰਿਆ (priaa)
    key := regexp_replace(key, '([^aeiou ])y', '\1', 'g'); -- Jyoti, ਜੋਤੀ (jotii)
    key := regexp_replace(key, 'ng\M', 'n', 'g'); -- Singh, सिंह (sinh)
    key := regexp_replace(key, '([a-z])\1+', '\1', 'g'); -- Gill, ਗਿੱਲ (gil)
    return btrim(regexp_replace(key, ' +', ' ', 'g'));
end;
$$;

comment on function private.name_key(text) is
'A name as it sounds in Latin letters, the same for its common spellings and scripts '
'(patients.name_key; compared by rpc/search_patients with trigram word similarity).';

-- Stored, so that a search scores its candidates without working out their keys again. A new
-- body of name_key must be followed by `update public.patients set full_name = full_name`.
alter table public.patients
add column name_key text generated always as (private.name_key(full_name)) stored;

comment on column public.patients.name_key is
'full_name as it sounds in Latin letters (private.name_key), kept by Postgres: what '
'rpc/search_patients matches, whatever the script or spelling.';

-- Postgres works the column out as whoever writes the row.
grant execute on function private.latin_reading(text), private.unaccented(text), private.name_key(text)
to authenticated, service_role;

-- GiST, not GIN: it hands out the nearest names first (`<<->`, word similarity distance), so a
-- search for a name 7% of patients share reads a page of them, not all of them.
create index patients_name_key_trgm_idx on public.patients
using gist (name_key extensions.gist_trgm_ops);

-- Phones: the last digits, as people say them ("the number ending 3210").
create index patients_phone_reversed_idx on public.patients (reverse(phone::text) text_pattern_ops);

create index patients_email_idx on public.patients (email);

create index patient_registrations_mrn_idx on public.patient_registrations (mrn);

-- Candidates --------------------------------------------------------------------------------

-- security definer: reads all patients' indexes, and returns only patients the patients policy
-- lets the caller read (the same four branches: themselves; the front office of a hospital with
-- a live registration; their care team; an admin of a hospital with any registration), so that
-- the page is cut after the caller's reach, not before. rpc/search_patients reads the page under
-- the policy itself, which decides; this only spares it a scan. Ids and scores only.
--
-- Exact matches (MRN, email, phone) come first, then names nearest first, straight from the
-- GiST index in growing batches; each batch is checked against the caller's reach in one
-- statement, until the page is full or the names run out.
create function private.patient_search_candidates(
    query text,
    kind text,
    max_results integer,
    hospital_id uuid,
    born_on date,
    of_sex public.sex,
    archived boolean
)
returns table (patient_id uuid, matched_on text, score real)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    q constant text := btrim(query);
    digits constant text := regexp_replace(q, '\D', '', 'g');
    -- The last digits, reversed: the phone index holds reversed numbers, a prefix range here.
    ending constant text := reverse(right(digits, 10));
    key constant text := private.name_key(q);
    front_office constant uuid[] := private.staff_hospital_ids('{front_desk,cro}');
    admin_of constant uuid[] := private.staff_hospital_ids('{hospital_admin}');
    works_at constant uuid[] := private.staff_hospital_ids(null);
    team constant uuid[] := private.care_team_patient_ids();
    me constant uuid := (select auth.uid());
    ids uuid[];
    ways text[];
    scores real[];
    taken uuid[] := '{}';
    batch integer := 4 * max_results;
    skipped integer := 0;
    names_left boolean := (kind is null or kind = 'name') and key <> '';
begin
    select coalesce(array_agg(e.id), '{}'), coalesce(array_agg(e.way), '{}'), coalesce(array_agg(e.score), '{}')
    into ids, ways, scores
    from (
        select r.patient_id as id, 'mrn' as way, 1.0::real as score
        from public.patient_registrations as r
        where (kind is null or kind = 'mrn') and r.mrn = upper(q)
        union all
        select p.id, 'email', 1.0::real
        from public.patients as p
        where (kind is null or kind = 'email') and q like '%@%'
            and p.email operator(extensions.=) q::extensions.citext
        union all
        select p.id, 'phone', case when length(digits) >= 10 then 1.0 else 0.9 end::real
        from public.patients as p
        where (kind is null or kind = 'phone') and q ~ '^[+0-9 ()./-]+$' and length(digits) >= 4
            and reverse(p.phone::text) operator(pg_catalog.~>=~) ending
            and reverse(p.phone::text) operator(pg_catalog.~<~) (ending || ':')
    ) as e;
    loop
        -- The batch's patients the caller may read, in the batch's order.
        select
            coalesce(array_agg(c.id order by c.position), '{}'),
            coalesce(array_agg(c.way order by c.position), '{}'),
            coalesce(array_agg(c.score order by c.position), '{}')
        into ids, ways, scores
        from (
            select c.id, c.way, c.score, c.position
            from unnest(ids, ways, scores) with ordinality as c (id, way, score, position)
            inner join public.patients as p on p.id = c.id
            where
                c.id <> all(taken)
                and (
                    (p.user_id = me and p.deleted_at is null)
                    or (p.deleted_at is null and p.id = any(team))
                    or exists (
                        select 1 from public.patient_registrations as r
                        where r.patient_id = p.id
                            and (
                                (r.hospital_id = any(front_office) and r.deleted_at is null and p.deleted_at is null)
                                or r.hospital_id = any(admin_of)
                            )
                    )
                )
                and (born_on is null or p.date_of_birth = born_on)
                and (of_sex is null or p.sex = of_sex)
                and (archived is null or archived = (p.deleted_at is not null))
                -- Only a hospital where the caller works: a filter on another hospital would
                -- tell them where else their patient is registered.
                and (
                    patient_search_candidates.hospital_id is null
                    or (
                        patient_search_candidates.hospital_id = any(works_at)
                        and exists (
                            select 1 from public.patient_registrations as r
                            where r.patient_id = p.id and r.deleted_at is null
                                and r.hospital_id = patient_search_candidates.hospital_id
                        )
                    )
                )
            order by c.position
            limit max_results - cardinality(taken)
        ) as c;
        taken := taken || ids;
        return query select * from unnest(ids, ways, scores);
        exit when cardinality(taken) >= max_results or not names_left;
        -- The next names, nearest first.
        select
            coalesce(array_agg(n.id order by n.distance), '{}'),
            coalesce(array_agg('name'::text), '{}'),
            coalesce(array_agg((1 - n.distance)::real order by n.distance), '{}')
        into ids, ways, scores
        from (
            select p.id, key operator(extensions.<<->) p.name_key as distance
            from public.patients as p
            where key operator(extensions.<%) p.name_key
                -- Without a hospital-wide role the caller reaches only themselves and their
                -- care team: no need to check every namesake of the hospital one by one.
                and (
                    cardinality(front_office || admin_of) > 0
                    or p.id = any(team)
                    or p.user_id = me
                )
            order by key operator(extensions.<<->) p.name_key
            limit batch offset skipped
        ) as n;
        names_left := cardinality(ids) = batch;
        exit when cardinality(ids) = 0;
        skipped := skipped + batch;
        batch := batch * 2;
    end loop;
end;
$$;

comment on function private.patient_search_candidates(text, text, integer, uuid, date, public.sex, boolean) is
'The first max_results patients matching a search by name, phone, MRN or email among those '
'the patients policy lets the caller read, with what matched and a score in 0..1.';

grant execute on function private.patient_search_candidates(text, text, integer, uuid, date, public.sex, boolean)
to authenticated;

-- The API ------------------------------------------------------------------------------------

create function public.search_patients(
    query text,
    kind text default null,
    max_results integer default 20,
    hospital_id uuid default null,
    born_on date default null,
    of_sex public.sex default null,
    status text default null
)
returns table (
    id uuid,
    full_name text,
    date_of_birth date,
    sex public.sex,
    phone_masked text,
    email_masked text,
    mrns text[],
    matched_on text,
    score real
)
language plpgsql
stable
set search_path = ''
as $$
begin
    if length(btrim(coalesce(query, ''))) < 2 then
        perform private.raise_invalid(
            'query must have at least 2 characters', 'query_too_short',
            'search by name, phone (4 digits or more), MRN or email'
        );
    end if;
    if max_results is null or max_results not between 1 and 50 then
        perform private.raise_invalid('max_results must be between 1 and 50', 'max_results_out_of_range');
    end if;
    if kind is not null and kind not in ('name', 'phone', 'mrn', 'email') then
        perform private.raise_invalid('kind must be name, phone, mrn or email', 'unknown_kind');
    end if;
    if status is not null and status not in ('active', 'archived') then
        perform private.raise_invalid('status must be active or archived', 'unknown_status');
    end if;
    return query
    select
        p.id,
        p.full_name,
        p.date_of_birth,
        p.sex,
        -- The country code and the last 4 digits: +91******5678.
        left(p.phone::text, greatest(length(p.phone::text) - 10, 1)) || '******' || right(p.phone::text, 4),
        regexp_replace(p.email::text, '^(.).*@', '\1***@'),
        array(
            select r.mrn from public.patient_registrations as r
            where r.patient_id = p.id and r.deleted_at is null
            order by r.mrn
        ),
        c.matched_on,
        c.score
    from private.patient_search_candidates(
        query, kind, max_results, search_patients.hospital_id, born_on, of_sex, status = 'archived'
    ) as c
    inner join public.patients as p on p.id = c.patient_id
    order by c.score desc, p.full_name, p.id;
end;
$$;

comment on function public.search_patients(text, text, integer, uuid, date, public.sex, text) is
'Find patients by name (misspelled, any of Latin, Gurmukhi and Devanagari script), phone (the '
'number or its last 4+ digits), MRN (exact) or email (exact), best match first. Only patients '
'the caller may read (their policies decide); phone and email masked, MRNs of the registrations '
'the caller may read. kind (name, phone, mrn, email) searches one way only; filters: '
'hospital_id (registered there), born_on, of_sex, status (active, archived). max_results 1..50 '
'(default 20). Errors: 22023 with details query_too_short (under 2 characters), '
'max_results_out_of_range, unknown_kind, unknown_status.';

grant execute on function public.search_patients(text, text, integer, uuid, date, public.sex, text)
to authenticated;
