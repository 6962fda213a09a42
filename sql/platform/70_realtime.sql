-- Schema `realtime` in the shape Supabase Realtime leaves it for Broadcast from the database:
-- realtime.messages (whose RLS policies decide who may join a private channel and send on it),
-- realtime.send / broadcast_changes (which database triggers call) and realtime.topic() (which
-- those policies call). Postgres Changes' internals (subscription, apply_rls, list_changes) are
-- not here. On Supabase messages is partitioned by day; a plain table behaves the same for
-- what migrations and policies can see.

create schema realtime authorization supabase_admin;

create table realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp not null default now(),
    inserted_at timestamp not null default now(),
    id uuid not null default gen_random_uuid(),
    constraint messages_pkey primary key (id, inserted_at)
);
create index messages_inserted_at_topic_index on realtime.messages (inserted_at desc, topic)
where (extension = 'broadcast' and private is true);

alter table realtime.messages enable row level security;

-- The topic of the channel being authorised; Realtime sets it before checking the policies on
-- realtime.messages. Word for word as Supabase defines it, like the auth request functions.
create function realtime.topic()
returns text
language sql
stable
as $$
select nullif(current_setting('realtime.topic', true), '')::text;
$$;

-- Broadcast a message to a channel from SQL. It runs as the caller, so the caller's insert
-- policy on realtime.messages applies; a failure is only a warning, because a broadcast must
-- never undo the change that triggered it.
create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
set search_path = ''
as $$
declare
    generated_id uuid;
    final_payload jsonb;
begin
    begin
        generated_id := pg_catalog.gen_random_uuid();
        if payload ? 'id' then
            final_payload := payload;
        else
            final_payload := pg_catalog.jsonb_set(payload, '{id}', pg_catalog.to_jsonb(generated_id));
        end if;
        -- Policies on realtime.messages read the topic through realtime.topic().
        execute pg_catalog.format('set local realtime.topic to %L', topic);
        insert into realtime.messages (id, payload, event, topic, private, extension)
        values (generated_id, final_payload, event, topic, private, 'broadcast');
    exception
        when others then
            raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
    end;
end;
$$;

-- Row trigger helper: broadcast a row change as {schema, table, operation, record, old_record}
-- on a private channel.
create function realtime.broadcast_changes(
    topic_name text,
    event_name text,
    operation text,
    table_name text,
    table_schema text,
    new record,
    old record,
    level text default 'ROW'
)
returns void
language plpgsql
set search_path = ''
as $$
declare
    row_data jsonb := '{}'::jsonb;
begin
    if level = 'STATEMENT' then
        raise exception 'function can only be triggered for each row, not for each statement';
    end if;
    if operation = 'INSERT' or operation = 'UPDATE' or operation = 'DELETE' then
        row_data := pg_catalog.jsonb_build_object(
            'old_record', old,
            'record', new,
            'operation', operation,
            'table', table_name,
            'schema', table_schema
        );
        perform realtime.send(row_data, event_name, topic_name);
    else
        raise exception 'Unexpected operation type: %', operation;
    end if;
exception
    when others then
        raise exception 'Failed to process the row: %', sqlerrm;
end;
$$;

alter table realtime.messages owner to supabase_realtime_admin;
alter function realtime.topic() owner to supabase_realtime_admin;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
owner to supabase_realtime_admin;

grant all on schema realtime to supabase_realtime_admin;
grant usage on schema realtime to postgres with grant option;
grant usage on schema realtime to anon, authenticated, service_role;

-- The API roles read and send broadcasts subject to RLS; postgres administers the table.
grant select, insert, update on realtime.messages to anon, authenticated, service_role;
grant all on realtime.messages to postgres;
grant execute on function realtime.topic(), realtime.send(jsonb, text, text, boolean) to postgres;
grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
to postgres;

alter default privileges for role supabase_admin in schema realtime grant all on tables to postgres;
alter default privileges for role supabase_admin in schema realtime grant all on functions to postgres;
alter default privileges for role supabase_admin in schema realtime grant all on sequences to postgres;

-- Tables whose changes Realtime streams (Postgres Changes); migrations add to it. Owned by
-- postgres so that they can. Publications are per database, unlike roles.
do $$
begin
    if not exists (select from pg_catalog.pg_publication as p where p.pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end;
$$;
alter publication supabase_realtime owner to postgres;
