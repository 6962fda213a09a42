-- An extension installed at a version other than the one the server would install today.
select
    'WARN' as level,
    e.name as object,
    format('is at version %s; the server offers %s', e.installed_version, e.default_version) as detail,
    'alter extension ... update' as remedy
from pg_catalog.pg_available_extensions as e
where
    e.installed_version is not null
    and e.default_version is not null
    and e.installed_version <> e.default_version
    -- A version left behind by pg_upgrade that the server no longer ships cannot be judged.
    and exists (
        select from pg_catalog.pg_available_extension_versions as v
        where v.name = e.name and v.version = e.installed_version
    )
