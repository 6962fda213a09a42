-- The worker's claim fills its batch: rows the database settles while claiming them (no
-- device or phone, contact withdrawn since queued, staff without the app) are not handed out,
-- and a batch made only of those came back empty, which the worker takes for an empty queue
-- and waits its poll interval (2 s) before claiming again: a thousand such rows held the
-- messages behind them for about 100 s. Re-created (the third time; RECREATED_FUNCTIONS):
-- the claim goes on in their place until the batch is full or nothing more is settled.

create or replace function public.claim_notifications(
    batch integer default 20,
    lease interval default '2 minutes',
    channels text[] default '{push,sms}',
    max_attempts integer default 5
)
returns table (
    id uuid,
    claim_token uuid,
    kind text,
    channel text,
    attempts integer,
    recipient_kind text,
    recipient_id uuid,
    hospital_id uuid,
    device_tokens text[],
    phone text,
    title text,
    body text,
    data jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    row_ private.outbox;
    delivery jsonb;
    handed integer := 0;
    settled integer;
begin
    perform private.check_claim_arguments(batch, lease, max_attempts);

    update private.outbox as o
    set state = 'dead', lease_until = null, claim_token = null,
        last_error = format('the worker delivering it stopped answering (attempt %s of %s)', o.attempts, max_attempts)
    where o.id in (
        select x.id from private.outbox as x
        where x.state = 'processing' and x.lease_until <= now() and x.attempts >= max_attempts
        for update skip locked
    );

    -- Rows settled here (no address, consent withdrawn) are not handed out: claim again in
    -- their place, so that a batch of them does not look like an empty queue to the worker
    -- (which then waits its poll interval). At most 50 rounds a call.
    for round_ in 1..50 loop
        settled := 0;
        for row_ in
            update private.outbox as o
            set state = 'processing', attempts = o.attempts + 1, lease_until = now() + lease,
                claim_token = gen_random_uuid()
            where o.id in (
                select x.id from private.outbox as x
                where x.channel = any(channels)
                    and (
                        (x.state = 'pending' and x.deliver_after <= now())
                        or (x.state = 'processing' and x.lease_until <= now())
                    )
                order by x.deliver_after
                limit batch - handed
                for update skip locked
            )
            returning o.*
        loop
            delivery := private.outbox_delivery(row_, channels);
            if delivery ? 'settle' then
                update private.outbox as o
                set state = delivery ->> 'settle', lease_until = null, claim_token = null,
                    last_error = delivery ->> 'error'
                where o.id = row_.id;
                settled := settled + 1;
                continue;
            end if;
            id := row_.id;
            claim_token := row_.claim_token;
            kind := row_.kind;
            channel := delivery ->> 'channel';
            attempts := row_.attempts;
            recipient_kind := row_.recipient_kind;
            recipient_id := row_.recipient_id;
            hospital_id := row_.hospital_id;
            device_tokens := array(select jsonb_array_elements_text(coalesce(delivery -> 'device_tokens', '[]')));
            phone := delivery ->> 'phone';
            title := delivery ->> 'title';
            body := delivery ->> 'body';
            data := delivery -> 'data';
            handed := handed + 1;
            return next;
        end loop;
        exit when settled = 0 or handed >= batch;
    end loop;
end;
$$;
