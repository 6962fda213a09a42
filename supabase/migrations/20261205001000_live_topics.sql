-- Who may receive on which private Realtime channel (issue 13).
--
-- Live events go to two kinds of topic (the channel a client joins is `realtime:<topic>`,
-- private):
--   user:<auth user uuid>                 one person: a patient's app login or a staff member
--   hospital:<hospital uuid>:<app_role>   everyone holding that role there, e.g.
--                                         hospital:<uuid>:front_desk, hospital:<uuid>:pharmacist
-- (uuids in their canonical lower-case text form).
--
-- Supabase Realtime authorises a join to a private channel with the RLS policies on
-- realtime.messages: in one transaction it inserts a probe row per extension (broadcast, and
-- presence when enabled) with the channel's topic, sets `role`, `realtime.topic`,
-- `request.jwt.claims` (and claim.sub, claim.role, request.headers) transaction-locally,
-- selects the probe rows by id as that role, and rolls back. The user may receive broadcasts
-- when the broadcast probe is returned. It checks again when the client sends a new access
-- token, so a membership revoked since the join ends the channel then, and any later join is
-- refused.
--
-- Clients never send on these topics: there is no insert policy for them, so Realtime's write
-- probe fails and client broadcasts are refused. Events come only from the database (the
-- triggers of 20261205001200, through private.live_events_publish).

-- The topics the caller may join: their own user topic, and one per active membership at an
-- active hospital. Memberships are read on every call, so revoking one (or deactivating the
-- hospital) takes the topic away at the next join or feed read. Security definer: the
-- memberships of a hospital are not all visible to the member under RLS. No aal2 required:
-- what these topics carry are ids, statuses and times, no PHI (see 20261205001200).
create function private.joinable_topics()
returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select case when (select auth.uid()) is null then '{}'::text[] else
        array['user:' || (select auth.uid())::text] || coalesce(
            (
                select array_agg('hospital:' || m.hospital_id::text || ':' || m.role::text order by m.hospital_id, m.role)
                from public.staff_memberships as m
                join public.hospitals as h on h.id = m.hospital_id
                where m.user_id = (select auth.uid()) and m.is_active and h.is_active
            ),
            '{}'
        )
    end
$$;

comment on function private.joinable_topics() is
'The live-event topics the caller may join and read: user:<own uid>, and '
'hospital:<hospital>:<role> for each active membership at an active hospital.';

-- The join decision for one topic, as the realtime.messages policy asks it.
create function private.may_join_topic(topic text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(may_join_topic.topic = any(private.joinable_topics()), false)
$$;

comment on function private.may_join_topic(text) is
'Whether the caller may receive on the private channel of this live-event topic (the RLS '
'policy on realtime.messages asks it with realtime.topic()); the rule is private.joinable_topics().';

grant execute on function private.joinable_topics(), private.may_join_topic(text) to authenticated;

-- What a client subscribes to after signing in (and again after a token refresh).
create function public.live_topics()
returns text[]
language sql
stable
set search_path = ''
as $$
    select private.joinable_topics()
$$;

comment on function public.live_topics() is
'The live-event topics the caller may join now: user:<own uid> and hospital:<hospital>:<role> '
'for each active membership. Subscribe to the private channel realtime:<topic> of each; catch '
'up from live_events.';

-- Receive only: broadcast on a topic the caller may join. Presence is not offered on these
-- topics. The row's own topic must be the channel's, so nothing else in the table is readable
-- with a topic one may join.
create policy live_topics_receive on realtime.messages
for select to authenticated
using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and (select private.may_join_topic((select realtime.topic())))
);

comment on policy live_topics_receive on realtime.messages is
'A signed-in user may receive broadcasts on the live-event topics private.may_join_topic allows '
'(own user topic, hospital role topics of active memberships). No insert policy: clients do not '
'send on these topics.';
