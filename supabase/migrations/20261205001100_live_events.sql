-- Live events with a per-topic sequence number, and the feed a reconnecting client catches up
-- from (issue 13).
--
-- A trigger raises an event with private.raise_live_event: the event waits in
-- private.live_events_pending until its transaction commits. Then the deferred constraint
-- trigger live_events_publish numbers the transaction's events per topic (next seq from
-- private.live_topic_heads), stores them in public.live_events and broadcasts each with
-- realtime.send, payload || {topic, seq}: the broadcast and the feed carry the same number.
-- As the audit chain's link at commit (20261204002000) does for its head, a topic's head is
-- locked only from that moment to the commit, never for a whole writing transaction:
-- - seqs are contiguous per topic (taken under the head's lock, the head moves in the same
--   transaction; a rollback takes both back) and in commit order (the head is held to the
--   commit, so the next committer numbers after it);
-- - a client that reconnects reads /rest/v1/live_events?topic=eq.<t>&seq=gt.<last>&order=seq
--   and misses nothing; a broadcast it receives twice (feed and channel) has the same seq.
-- Lock order: the audit chain head first, then the topic heads in topic order. Nearly every
-- event comes with a change the audit trail records, whose own link at commit takes the chain
-- head; live_events_publish takes it first too, so whichever of the two deferred triggers
-- fires first, the head is taken before any topic and two committing transactions never wait
-- for each other in opposite orders (without it they deadlock: tests/test_live_events.py).
-- Commits that raise events are then ordered one at a time by the chain head, which audited
-- ones were already, so the topic heads themselves are never waited for. As for the audit
-- chain, a transaction at repeatable read or serializable that raises events fails at commit
-- (40001) when another one moved the same topic after its snapshot; PostgREST runs at read
-- committed.
-- realtime.send never aborts the transaction (it turns a failure into a warning); the feed row
-- is written anyway, so a lost broadcast is recovered from the feed.

-- The feed. Readable under the join rule; nobody writes it but live_events_publish.
create table public.live_events (
    topic text not null,
    seq bigint not null,
    event text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    primary key (topic, seq),
    constraint live_events_seq_positive check (seq > 0)
);

-- Retention deletes by age; rows arrive in time order, so a BRIN index is enough.
create index live_events_created_at_idx on public.live_events using brin (created_at);

alter table public.live_events enable row level security;
revoke all on public.live_events from anon, authenticated, service_role;
grant select on public.live_events to authenticated, service_role;

create policy live_events_select_joinable on public.live_events
for select to authenticated
using (topic = any((select private.joinable_topics())::text[]));

comment on table public.live_events is
'Live events, as broadcast on Realtime, kept for catching up after a disconnect: read '
'?topic=eq.<topic>&seq=gt.<last seen>&order=seq. Readable for the topics one may join '
'(user:<own uid>, hospital:<hospital>:<role> of an active membership). Events carry ids, '
'statuses and times, never names or clinical text. Kept 30 days (pg_cron job '
'carebase-live-events-retention); older ones are gone, reload the screen instead.';
comment on column public.live_events.topic is
'user:<auth user uuid> or hospital:<hospital uuid>:<app role>; the private Realtime channel is '
'realtime:<topic>.';
comment on column public.live_events.seq is
'1, 2, 3... per topic, without gaps, in commit order; the same number the broadcast carries.';
comment on column public.live_events.event is
'What happened, e.g. appointment_created, prescription_status_changed (the broadcast event).';
comment on column public.live_events.payload is
'The broadcast payload without topic and seq: ids, statuses and times only.';
comment on column public.live_events.created_at is 'When the change was made (its transaction''s time).';
comment on policy live_events_select_joinable on public.live_events is
'A user reads the events of the topics they may join (private.joinable_topics), nothing else.';

-- The last seq given on each topic. Kept apart from the feed so that retention never resets a
-- topic's numbering.
create table private.live_topic_heads (
    topic text primary key,
    seq bigint not null
);

alter table private.live_topic_heads enable row level security;
revoke all on private.live_topic_heads from public, anon, authenticated, service_role;

comment on table private.live_topic_heads is
'The last live-event seq given on each topic; moved by private.live_events_publish at commit.';

-- A transaction's events until it commits, in the order raised. Unlogged and keyed by the
-- transaction, as audit.pending: a row lives only inside its own transaction.
create unlogged table private.live_events_pending (
    xact xid8 not null default pg_catalog.pg_current_xact_id(),
    id bigint generated always as identity,
    topic text not null,
    event text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    primary key (xact, id)
);

alter table private.live_events_pending enable row level security;
revoke all on private.live_events_pending from public, anon, authenticated, service_role;

comment on table private.live_events_pending is
'Live events raised by a transaction that has not committed yet; private.live_events_publish '
'(constraint trigger live_events_publish, initially deferred) numbers, stores and broadcasts '
'them at commit. Always empty to other sessions.';

-- Queues one event for each of the topics (nulls and repeats skipped: a patient without a
-- login has no user topic). Called by the trigger functions of 20261205001200, which run as
-- the owner; granted to no API role.
create function private.raise_live_event(topics text[], event text, payload jsonb)
returns void
language sql
volatile
set search_path = ''
as $$
    insert into private.live_events_pending (topic, event, payload)
    select distinct t.topic, raise_live_event.event, raise_live_event.payload
    from unnest(raise_live_event.topics) as t (topic)
    where t.topic is not null;
$$;

comment on function private.raise_live_event(text[], text, jsonb) is
'Queues a live event for each topic; it is numbered, stored in public.live_events and '
'broadcast when the transaction commits.';

-- Numbers, stores and broadcasts this transaction's events. Fires at commit once per pending
-- row; the first firing handles every row of the transaction (in topic, then raise order) and
-- later firings find theirs gone, as private.audit_link_pending does. Security definer: it
-- writes private and public tables whatever role the transaction ends in, and realtime.send
-- inserts into realtime.messages as this owner (which the RLS there does not restrict).
-- enable_seqscan off: the pending table looks empty to the planner.
create function private.live_events_publish()
returns trigger
language plpgsql
security definer
set search_path = ''
set enable_seqscan = off
as $$
declare
    pending record;
    next_seq bigint;
begin
    if not exists (select from private.live_events_pending as p where p.xact = new.xact and p.id = new.id) then
        return null;
    end if;
    -- Lock order (see the migration's header): the audit chain head, then the topics.
    perform from audit.chain_head as h where h.singleton for update;
    for pending in
        select p.topic, p.event, p.payload, p.created_at
        from private.live_events_pending as p
        where p.xact = new.xact and p.id >= new.id
        order by p.topic, p.id
    loop
        insert into private.live_topic_heads as h (topic, seq)
        values (pending.topic, 1)
        on conflict (topic) do update set seq = h.seq + 1
        returning h.seq into next_seq;
        insert into public.live_events (topic, seq, event, payload, created_at)
        values (pending.topic, next_seq, pending.event, pending.payload, pending.created_at);
        perform realtime.send(
            pending.payload || jsonb_build_object('topic', pending.topic, 'seq', next_seq),
            pending.event,
            pending.topic,
            true
        );
    end loop;
    delete from private.live_events_pending as p where p.xact = new.xact and p.id >= new.id;
    return null;
end;
$$;

comment on function private.live_events_publish() is
'Gives a committing transaction''s live events the next seq of their topic, stores them in '
'public.live_events and broadcasts them with realtime.send (payload plus topic and seq). '
'Constraint trigger live_events_publish, initially deferred: a topic is locked only from then '
'to the commit.';

-- Enabled ALWAYS: in session_replication_role = replica an event must still go out.
create constraint trigger live_events_publish
after insert on private.live_events_pending
deferrable initially deferred
for each row execute function private.live_events_publish();
alter table private.live_events_pending enable always trigger live_events_publish;

-- Retention: events older than 30 days are deleted daily. A client away longer reloads its
-- screens instead of replaying; the topic heads stay, so numbering never restarts.
create function private.forget_old_live_events()
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
    with gone as (
        delete from public.live_events as e where e.created_at < now() - interval '30 days'
        returning 1
    )
    select count(*)::integer from gone;
$$;

comment on function private.forget_old_live_events() is
'Deletes live events older than 30 days and says how many (pg_cron job '
'carebase-live-events-retention, daily). Security definer: nobody else deletes from the feed.';

select private.schedule_job(
    'carebase-live-events-retention', '25 0 * * *', 'select private.forget_old_live_events()'
);
