-- The personal-data registry (migration 20261209110000) that `carebase db masked-copy` reads:
-- every column that looks personal is classified, so a new one is never copied in clear by
-- omission. Looks personal: a phone (phone_e164), citext (emails), inet, json or jsonb column,
-- an encrypted column, a date, or a text column whose name says name, phone, email, address,
-- city, birth, national number, licence, note, reason, description, message, token, secret,
-- external id... in the schemas holding data (public, private, audit, auth, storage).
begin;
select plan(4);

select is_empty(
    $$ select format('%s.%s (%s)', c.oid::regclass, a.attname, format_type(a.atttypid, a.atttypmod))
        from pg_catalog.pg_attribute as a
        join pg_catalog.pg_class as c on a.attrelid = c.oid
        join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
        join pg_catalog.pg_type as t on a.atttypid = t.oid
        where c.relkind in ('r', 'p') and not c.relispartition and a.attnum > 0 and not a.attisdropped
            and n.nspname in ('public', 'private', 'audit', 'auth', 'storage')
            and (
                t.typname in ('phone_e164', 'citext', 'inet', 'json', 'jsonb', 'date')
                or exists (
                    select from private.encrypted_columns as e
                    where e.table_name = c.oid and e.column_name = a.attname
                )
                or (
                    t.typcategory = 'S'
                    and a.attname ~ (
                        '(^|_)(names?|phone|mobile|email|address|city|district|postal|pincode|zip|birth|dob'
                        || '|aadhaar|ssn|national|mrn|licen[cs]e|notes?|body|reason|description|comment|summary'
                        || '|complaint|content|message|transcript|snapshot|bio|contact|ip|agent|token|secret'
                        || '|password|otp|caller|relation|error|failure|uid|external|resolution)($|_)'
                    )
                )
            )
            and (t.typname <> 'date' or a.attname ~ '(birth|dob)')
            and not exists (
                select from private.personal_data_columns as p
                where p.table_name = c.oid and p.column_name = a.attname
            )
        order by 1 $$,
    'every column that looks personal is classified in private.personal_data_columns'
);

select is_empty(
    $$ select format('%s.%s', e.table_name, e.column_name)
        from private.encrypted_columns as e
        left join private.personal_data_columns as p
            on e.table_name = p.table_name and e.column_name = p.column_name
        where p.kind is null or p.kind in ('none', 'derived') $$,
    'every encrypted column is classified by what its clear text holds'
);

select is_empty(
    $$ select format('%s.%s', p.table_name, p.column_name)
        from private.personal_data_columns as p
        where not exists (
            select from pg_catalog.pg_attribute as a
            where a.attrelid = p.table_name and a.attname = p.column_name and a.attnum > 0 and not a.attisdropped
        ) $$,
    'every classified column exists'
);

select is_empty(
    $$ select format('%s.%s', p.table_name, p.column_name)
        from private.personal_data_columns as p
        join pg_catalog.pg_attribute as a on a.attrelid = p.table_name and a.attname = p.column_name
        where a.attgenerated = 's' and p.kind <> 'derived' $$,
    'a generated column is classified as derived (it follows the column it is computed from)'
);

select * from finish();
rollback;
