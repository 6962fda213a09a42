-- The functions `carebase db masked-copy` (devstack/masked_copy.py) loads into the scratch
-- database it masks, in schema `masking`, which it drops before dumping: nothing of this file,
-- the masking key or the map of original values ever reaches the masked copy. Never applied to
-- a real database.
--
-- Every fake is derived from HMAC-SHA256(key, kind:attempt:value): the same value gives the
-- same fake everywhere in the copy (a patient's phone in patients, appointments, auth.users and
-- the audit trail), and without the key, which the copy does not hold, nothing maps back.
-- masking.map holds each distinct original value per kind and its fake; collisions (two values,
-- one fake; a fake equal to some original of its kind) are re-drawn with the next attempt, so
-- distinct values stay distinct (unique constraints hold) and no original survives as a fake.

create schema masking;

create table masking.secret (
    singleton boolean primary key default true check (singleton),
    key bytea not null
);

create table masking.map (
    kind text not null,
    original text not null,
    fake text,
    primary key (kind, original)
);

create index map_fake_idx on masking.map (kind, fake);

-- Clear texts of the encrypted columns (each such table has an `id uuid`), read once before
-- the keys are replaced; document: the clear text as JSON when it is an object or an array.
create table masking.clear (
    table_name regclass not null,
    column_name name not null,
    row_id uuid not null,
    plaintext text not null,
    document jsonb,
    primary key (table_name, column_name, row_id)
);

create function masking.try_json(value text)
returns jsonb
language plpgsql
immutable
as $$
begin
    if value !~ '^\s*[\[{]' then
        return null;
    end if;
    return value::jsonb;
exception
    when others then
        return null;
end;
$$;

-- The form a value takes in masking.map: emails compared without case, phones by their digits
-- (auth.users keeps them without the plus sign), dates as ISO dates.
create function masking.normalized(kind text, value text)
returns text
language sql
immutable
as $$
    select case kind
        when 'email' then lower(btrim(value))
        when 'phone' then regexp_replace(value, '[^0-9]', '', 'g')
        else value
    end;
$$;

-- n pseudo-random bytes for (kind, attempt, value).
create function masking.stream(kind text, value text, attempt integer, n integer)
returns bytea
language plpgsql
stable
as $$
declare
    out bytea := '';
    block integer := 0;
begin
    while octet_length(out) < n loop
        out := out || extensions.hmac(
            convert_to(kind || ':' || attempt || ':' || block || ':' || value, 'UTF8'),
            (select s.key from masking.secret as s),
            'sha256'
        );
        block := block + 1;
    end loop;
    return substring(out from 1 for n);
end;
$$;

-- A made-up word of two or three syllables from the bytes at `at`.
create function masking.word(bytes bytea, at integer)
returns text
language sql
immutable
as $$
    select string_agg(
        (array[
            'ka', 'ri', 'mo', 've', 'lu', 'sa', 'ne', 'ti', 'ro', 'da', 'mi', 'po', 'la', 'zu', 'be',
            'ni', 'go', 'ha', 'ye', 'to', 'fa', 'si', 'ku', 're', 'na', 'vo', 'ma', 'li', 'pe', 'du'
        ])[get_byte(bytes, at + i) % 30 + 1],
        '' order by i
    )
    from generate_series(1, 2 + get_byte(bytes, at) % 2) as i;
$$;

-- Digits of `value` replaced one by one (other characters kept); the first digit is from
-- `first_digits`.
create function masking.digits(value text, bytes bytea, first_digits text default '0123456789')
returns text
language plpgsql
immutable
as $$
declare
    result text := '';
    ch text;
    i integer := 0;
    seen integer := 0;
begin
    foreach ch in array regexp_split_to_array(value, '') loop
        if ch ~ '[0-9]' then
            if seen = 0 then
                result := result || substr(first_digits, get_byte(bytes, i % octet_length(bytes)) % length(first_digits) + 1, 1);
            else
                result := result || (get_byte(bytes, i % octet_length(bytes)) % 10)::text;
            end if;
            seen := seen + 1;
        else
            result := result || ch;
        end if;
        i := i + 1;
    end loop;
    return result;
end;
$$;

-- The fake for one original value (already normalized) of a kind.
create function masking.fake(kind text, value text, attempt integer)
returns text
language plpgsql
stable
as $$
declare
    bytes bytea := masking.stream(kind, value, attempt, greatest(64, length(value) * 2));
    result text;
    words text [];
    born date;
    last_day date;
begin
    if kind = 'person_name' then
        words := regexp_split_to_array(btrim(value), '\s+');
        select string_agg(
            case when w.word ~ '^[A-Za-z]{1,4}\.$' then w.word else initcap(masking.word(bytes, (w.n * 4)::integer)) end,
            ' ' order by w.n
        )
        into result
        from unnest(words[1:8]) with ordinality as w (word, n);
        return result;
    elsif kind = 'phone' then
        -- Country code kept, then a 0: no national number starts with it, so no fake rings anyone.
        if length(value) <= 9 then
            return left(value, 1) || '0' || masking.digits(repeat('0', length(value) - 2), bytes);
        end if;
        return left(value, 2) || '0' || masking.digits(repeat('0', length(value) - 3), bytes);
    elsif kind = 'email' then
        return masking.word(bytes, 0) || '.' || masking.word(bytes, 4) || '.'
            || encode(substring(bytes from 9 for 2), 'hex') || '@example.com';
    elsif kind = 'street_address' then
        return (get_byte(bytes, 20) * 4 + get_byte(bytes, 21) % 4 + 1)::text || ' '
            || initcap(masking.word(bytes, 0)) || ' '
            || (array['Road', 'Street', 'Marg', 'Nagar', 'Lane', 'Colony'])[get_byte(bytes, 22) % 6 + 1];
    elsif kind = 'place' then
        return initcap(masking.word(bytes, 0) || masking.word(bytes, 4));
    elsif kind = 'postal_code' then
        return masking.digits(value, bytes, '123456789');
    elsif kind = 'national_id' then
        return masking.digits(value, bytes, '23456789');
    elsif kind = 'birth_date' then
        -- The same year (ages stay true), another day of it, never after today.
        born := value::date;
        last_day := least(make_date(extract(year from born)::integer, 12, 31), current_date);
        result := (
            make_date(extract(year from born)::integer, 1, 1)
            + ((get_byte(bytes, 0) * 256 + get_byte(bytes, 1)) % (last_day - make_date(extract(year from born)::integer, 1, 1) + 1))
        )::text;
        return result;
    elsif kind = 'identifier' then
        select string_agg(
            case
                when c.ch ~ '[0-9]' then (get_byte(bytes, c.n::integer % 64) % 10)::text
                when c.ch ~ '[a-f]' and value ~ '^[0-9a-f-]+$' then substr('abcdef', get_byte(bytes, c.n::integer % 64) % 6 + 1, 1)
                when c.ch ~ '[a-z]' then chr(97 + get_byte(bytes, c.n::integer % 64) % 26)
                when c.ch ~ '[A-Z]' then chr(65 + get_byte(bytes, c.n::integer % 64) % 26)
                else c.ch
            end,
            '' order by c.n
        )
        into result
        from unnest(regexp_split_to_array(value, '')) with ordinality as c (ch, n);
        return result;
    elsif kind = 'ip_address' then
        -- The documentation prefix (RFC 3849): never a real address.
        return '2001:db8:' || array_to_string(array(
            select encode(substring(bytes from 1 + 2 * i for 2), 'hex') from generate_series(0, 5) as i
        ), ':');
    elsif kind = 'credential' then
        return encode(substring(bytes from 1 for 32), 'hex');
    end if;
    -- free_text: made-up words, about as long as the original.
    bytes := masking.stream(kind, value, attempt, least(length(value), 4000) + 64);
    select string_agg(masking.word(bytes, i * 3), ' ' order by i)
    into result
    from generate_series(0, greatest(1, least(length(value), 4000) / 7)) as i;
    return upper(left(result, 1)) || substr(result, 2) || '.';
end;
$$;

-- The kind of one string in a JSON document, from its key and its shape; null: kept as it is
-- (ids, codes, times, numbers, tokens in lower or upper case).
create function masking.leaf_kind(key text, value text)
returns text
language plpgsql
immutable
as $$
declare
    k text := lower(coalesce(key, ''));
begin
    if value is null or btrim(value) = '' or value = '[encrypted]' then
        return null;
    end if;
    if k ~ 'e_?mail' and value ~ '@' then
        return 'email';
    elsif k ~ '(phone|mobile|msisdn|caller|(^|_)number$|(^|_)to$|(^|_)from$)' and value ~ '^\+?[0-9 ()-]{8,}$' then
        return 'phone';
    elsif k ~ '(birth|(^|_)dob$)' and value ~ '^\d{4}-\d{2}-\d{2}$' then
        return 'birth_date';
    elsif k ~ '(aadhaar|ssn|national)' then
        return 'national_id';
    elsif k ~ 'address' then
        return 'street_address';
    elsif k ~ '(^|_)(city|district|town|village)$' then
        return 'place';
    elsif k ~ '(postal|pincode|pin_code|zip)' then
        return 'postal_code';
    elsif k ~ '(^|_)(ip|ip_address|remote_addr)$' then
        return 'ip_address';
    elsif k ~ 'mrn' then
        return 'identifier';
    elsif k ~ '(^|_)(full_?name|first_?name|last_?name|middle_?name|given_?name|family_?name|patient_?name|display_?name|contact_?name|attendee_?name|name)$'
        and value !~ '^[a-z0-9_.:/+-]*$' then
        return 'person_name';
    end if;
    if value ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
        return 'email';
    elsif value ~ '^\+[1-9][0-9]{7,14}$' then
        return 'phone';
    elsif value ~ '^[a-z0-9_.:/+-]*$' or value ~ '^[A-Z0-9_.:/+-]*$'
        or value ~ '^[0-9a-fA-F-]{36}$' or value ~ '^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}(:?\d{2})?)?$' then
        return null;
    end if;
    return 'free_text';
end;
$$;

-- Every classified string of a JSON document, with its kind (keys are kept, never masked).
create function masking.json_leaves(doc jsonb, parent_key text default null)
returns table (kind text, value text)
language plpgsql
immutable
as $$
begin
    if jsonb_typeof(doc) = 'object' then
        return query select l.kind, l.value from jsonb_each(doc) as e, masking.json_leaves(e.value, e.key) as l;
    elsif jsonb_typeof(doc) = 'array' then
        return query select l.kind, l.value
            from jsonb_array_elements(doc) as e (item), masking.json_leaves(e.item, parent_key) as l;
    elsif jsonb_typeof(doc) = 'string' then
        kind := masking.leaf_kind(parent_key, doc #>> '{}');
        if kind is not null then
            value := doc #>> '{}';
            return next;
        end if;
    end if;
end;
$$;

-- The fake of one value, from the map (drawn on the spot, never the original, if missing).
create function masking.masked(kind text, value text)
returns text
language plpgsql
stable
as $$
declare
    fake text;
begin
    if value is null or btrim(value) = '' then
        return value;
    end if;
    select m.fake into fake
    from masking.map as m
    where m.kind = masked.kind and m.original = masking.normalized(masked.kind, masked.value);
    fake := coalesce(fake, masking.fake(kind, masking.normalized(kind, value), 99));
    if kind = 'phone' and value like '+%' then
        return '+' || fake;
    end if;
    return fake;
end;
$$;

create function masking.mask_json(doc jsonb, parent_key text default null)
returns jsonb
language plpgsql
stable
as $$
declare
    kind text;
begin
    if jsonb_typeof(doc) = 'object' then
        return (select coalesce(jsonb_object_agg(e.key, masking.mask_json(e.value, e.key)), '{}') from jsonb_each(doc) as e);
    elsif jsonb_typeof(doc) = 'array' then
        return (
            select coalesce(jsonb_agg(masking.mask_json(e.item, parent_key) order by e.n), '[]')
            from jsonb_array_elements(doc) with ordinality as e (item, n)
        );
    elsif jsonb_typeof(doc) = 'string' then
        kind := masking.leaf_kind(parent_key, doc #>> '{}');
        if kind is not null then
            return to_jsonb(masking.masked(kind, doc #>> '{}'));
        end if;
    end if;
    return doc;
end;
$$;

-- The classification of a column of the table an audit entry names: none for a column the
-- registry does not list (not personal, as the registry's test guarantees), null when the table
-- or the column does not exist (the value is then classified by key and shape).
create function masking.column_kind(table_name text, column_name text)
returns text
language sql
stable
as $$
    select coalesce(p.kind, 'none')
    from pg_catalog.pg_attribute as a
    left join private.personal_data_columns as p on a.attrelid = p.table_name and a.attname = p.column_name
    where
        a.attrelid = to_regclass(column_kind.table_name) and a.attname = column_kind.column_name
        and a.attnum > 0 and not a.attisdropped;
$$;

-- The classified strings of an audit entry's old or new values: each key as the column of the
-- table the entry names, else by key and shape.
create function masking.row_leaves(table_name text, doc jsonb)
returns table (kind text, value text)
language sql
stable
as $$
    select l.kind, l.value
    from jsonb_each(doc) as e
    cross join lateral (select masking.column_kind(row_leaves.table_name, e.key) as kind) as c
    cross join lateral masking.json_leaves(e.value, e.key) as l
    where c.kind is null or c.kind in ('json', 'row_values')
    union all
    select case when c.kind = 'derived' then 'identifier' else c.kind end, e.value #>> '{}'
    from jsonb_each(doc) as e
    cross join lateral (select masking.column_kind(row_leaves.table_name, e.key) as kind) as c
    where
        c.kind not in ('json', 'row_values', 'none')
        and jsonb_typeof(e.value) = 'string' and e.value #>> '{}' <> '[encrypted]';
$$;

create function masking.mask_row(table_name text, doc jsonb)
returns jsonb
language sql
stable
as $$
    select coalesce(jsonb_object_agg(
        e.key,
        case
            when c.kind is null or c.kind in ('json', 'row_values') then masking.mask_json(e.value, e.key)
            when c.kind = 'none' or jsonb_typeof(e.value) <> 'string' or e.value #>> '{}' = '[encrypted]'
                then e.value
            -- A derived value (a name key, the last digits of a number) would tell of the
            -- original: its characters are replaced, its shape kept.
            when c.kind = 'derived' then to_jsonb(masking.masked('identifier', e.value #>> '{}'))
            else to_jsonb(masking.masked(c.kind, e.value #>> '{}'))
        end
    ), doc)
    from jsonb_each(doc) as e
    cross join lateral (select masking.column_kind(mask_row.table_name, e.key) as kind) as c;
$$;

-- The field keys, read from Vault once (the source's, to decrypt; then the copy's new one).
create table masking.keys (
    version integer primary key,
    passphrase text not null,
    active boolean not null default false
);

-- A ciphertext's clear text under the passphrase of the key version it names; null when it
-- cannot be decrypted (it then stays as it is: under a key the copy does not hold).
create function masking.decrypt(ciphertext bytea, passphrase text)
returns text
language plpgsql
immutable
as $$
begin
    return extensions.pgp_sym_decrypt(substring(ciphertext from 3), passphrase);
exception
    when external_routine_invocation_exception or data_exception then
        return null;
end;
$$;

-- Encrypts a masked clear text under the copy's new active field key, in the layout of
-- private.encrypt_field (key version, then pgp_sym_encrypt with AES-256), which
-- private.decrypt_field reads. The key is a random 32-byte passphrase, so the iterated S2K of
-- pgp_sym_encrypt's default (about 1 ms a value) adds nothing here: a single salted pass.
create function masking.encrypt(plaintext text)
returns bytea
language sql
volatile
as $$
    select int2send(k.version::smallint) || extensions.pgp_sym_encrypt(plaintext, k.passphrase, 'cipher-algo=aes256, s2k-mode=1')
    from masking.keys as k
    where k.active;
$$;

-- Draws the fakes, re-drawing collisions until there are none.
create function masking.draw()
returns integer
language plpgsql
as $$
declare
    attempt integer := 0;
    redrawn integer;
begin
    update masking.map as m set fake = masking.fake(m.kind, m.original, 0);
    loop
        attempt := attempt + 1;
        with clash as (
            select m.kind, m.original from masking.map as m
            where
                m.fake = m.original
                or (
                    m.kind <> 'birth_date' and (
                        exists (select from masking.map as o where o.kind = m.kind and o.original = m.fake)
                        or exists (
                            select from masking.map as o where o.kind = m.kind and o.fake = m.fake and o.original < m.original
                        )
                    )
                )
        )
        update masking.map as m set fake = masking.fake(m.kind, m.original, attempt)
        from clash
        where m.kind = clash.kind and m.original = clash.original;
        get diagnostics redrawn = row_count;
        exit when redrawn = 0 or attempt > 50;
    end loop;
    return attempt;
end;
$$;

-- Rebuilds the masked copy's audit chain: its entries (their values masked) in seq order,
-- renumbered from 1 (a stretch archived in production leaves no gap in a copy), each hashed
-- with the one before; the head moves to the last. The anchors (signed for the production
-- chain) and the archive records (of production's files) are not the copy's: they go. Run with
-- the audit tables' append-only triggers disabled.
create function masking.rechain()
returns bigint
language plpgsql
as $$
declare
    entry audit.log;
    n bigint := 0;
    previous bytea := extensions.digest('carebase audit chain genesis', 'sha256');
begin
    create table masking.chain as select * from audit.log;
    delete from audit.log;
    for entry in select * from masking.chain as c order by c.seq, c.occurred_at loop
        n := n + 1;
        entry.seq := n;
        entry.prev_hash := previous;
        entry.hash := private.audit_hash(entry);
        insert into audit.log select entry.*;
        previous := entry.hash;
    end loop;
    update audit.chain_head as h set seq = n, hash = previous, updated_at = clock_timestamp() where h.singleton;
    delete from audit.anchors;
    delete from audit.archived_runs;
    delete from audit.archives;
    return n;
end;
$$;
