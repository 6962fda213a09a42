-- A public bucket with a broad select policy on storage.objects: public buckets serve objects by
-- URL without any policy, so such a policy only lets clients list every file in the bucket.
-- Reads storage.buckets through query_to_xml so the check also loads where Storage is absent.
with public_buckets as (
    select (xpath('/row/id/text()', b.x))[1]::text as bucket_id
    from unnest(
        case
            when pg_catalog.to_regclass('storage.buckets') is null then '{}'::xml[]
            else xpath(
                '/table/row',
                pg_catalog.query_to_xml('select id from storage.buckets where public', false, false, '')
            )
        end
    ) as b (x)
)

select
    'WARN' as level,
    format('storage bucket %s', b.bucket_id) as object,
    format(
        'is public and select policies on storage.objects let clients list it: %s',
        string_agg(p.policyname, ', ' order by p.policyname)
    ) as detail,
    'drop the broad select policy; public objects are served by URL without it' as remedy
from public_buckets as b
inner join pg_catalog.pg_policies as p
    on
        p.schemaname = 'storage'
        and p.tablename = 'objects'
        and p.cmd in ('SELECT', 'ALL')
        and p.permissive = 'PERMISSIVE'
        and p.roles && array['public', 'anon', 'authenticated']::name[]
where
    p.qual is null
    or regexp_replace(lower(p.qual), '\s', '', 'g') in ('true', '(true)', '1=1', '(1=1)')
    or regexp_replace(p.qual, '\s|\(|\)|::text', '', 'g') = format('bucket_id=%L', b.bucket_id)
group by b.bucket_id
