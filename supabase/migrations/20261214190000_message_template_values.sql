-- A message from a template carries a value for every variable the template declares.
--
-- The worker renders a body-less template message in a sandbox that refuses a missing value,
-- but two paths reached the patient's phone, or the outbox, without that check: a WhatsApp
-- template sent by its Content SID (its numbered variables were filled with empty strings)
-- and a journey stage whose template wants values the journey does not have (the message was
-- queued, then failed at send, the stage reported as done). Checked when the message is
-- written, whoever writes it: rpc/send_message answers 400 template_values_missing, a journey
-- stage reports the action skipped with that reason.

create function private.check_message_template_values()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    missing text [];
begin
    select array_agg(v.name order by v.n) into missing
    from public.message_templates as t
    cross join unnest(t.variables) with ordinality as v (name, n)
    where t.id = new.template_id and t.hospital_id = new.hospital_id
        and coalesce(jsonb_typeof(new.template_variables -> v.name), 'null') = 'null';
    if missing is not null then
        perform private.raise_invalid(
            format('the template needs a value for %s', array_to_string(missing, ', ')),
            'template_values_missing'
        );
    end if;
    return new;
end;
$$;

comment on function private.check_message_template_values() is
'Trigger: refuses an outbound message from a template without a value for each of its declared '
'variables (400 template_values_missing). Security definer: reads the template of the message''s '
'own hospital only.';

create trigger messages_template_values
before insert or update of template_id, template_variables on public.messages
for each row when (new.template_id is not null and new.direction = 'outbound')
execute function private.check_message_template_values();
