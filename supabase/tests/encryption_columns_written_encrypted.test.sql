-- An encrypted column holds only what private.encrypt_field produced in the same transaction:
-- raw bytes, plain text and a ciphertext copied from another row are refused, through insert
-- and update, for the care-team doctor, the front desk and the table owner alike (42501,
-- detail encrypted_column_direct_write). The columns come from the catalog: every bytea
-- column of public is registered in private.encrypted_columns (blind indexes aside) and
-- every registered column is tried, so a new encrypted column is covered as it is added.
begin;
select plan(16);

select tests.create_world();

-- The catalog --------------------------------------------------------------------------------
select is_empty(
    $$ select c.table_name || '.' || c.column_name from information_schema.columns as c
        where c.table_schema = 'public' and c.data_type = 'bytea' and c.column_name <> 'blind_index'
            and not exists (
                select from private.encrypted_columns as e
                where e.table_name = format('public.%I', c.table_name)::regclass and e.column_name = c.column_name
            ) $$,
    'every bytea column of public (but blind indexes) is a registered encrypted column'
);
select is_empty(
    $$ select e.table_name::text || '.' || e.column_name || ' ' || op from private.encrypted_columns as e
        cross join (values ('insert'), ('update')) as o (op)
        where not exists (
            select from pg_trigger as t
            where t.tgrelid = e.table_name and t.tgfoid = to_regproc('private.require_fresh_ciphertext')
                and t.tgname = format('%s_ciphertext_%s_on_%s', (select relname from pg_class where oid = e.table_name),
                    e.column_name, o.op)
                and t.tgenabled = 'O'
        ) $$,
    'every registered column refuses values that private.encrypt_field did not just produce, on insert and update'
);
select cmp_ok(
    (select count(*)::integer from private.encrypted_columns), '>=', 7,
    'the registry holds the seven encrypted columns known today (or more)'
);

-- One legitimately written row per encrypted column, through the encrypting paths ---------------
select tests.act_as('a_doctor', 'aal2');
select public.write_clinical_note(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"assessment": "Stable angina"}'
) is not null as written;
select public.sign_clinical_note(
    (
        select id from public.clinical_notes
        where patient_id = tests.id_of('patients', 'a_patient1')
    )
) is not null as signed;
select public.add_note_addendum(
    (
        select id from public.clinical_notes
        where patient_id = tests.id_of('patients', 'a_patient1')
    ), 'BP 145/90'
) is not null as added;
select public.write_clinical_note(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), '{"plan": "ECG"}'
) is not null as draft;
insert into public.medical_profiles (patient_id, hospital_id, details_encrypted)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'),
    private.encrypt_field('{"allergies": ["penicillin"]}')
);
insert into public.lab_results (patient_id, hospital_id, test_name, result_value, status, notes_encrypted)
values (
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'LDL', '190', 'abnormal',
    private.encrypt_field('statin advised')
);
select public.order_scan(
    tests.id_of('patients', 'a_patient1'), tests.id_of('hospitals', 'TSTA'), 'US', 'Echocardiogram',
    clinical_indication => 'breathless on exertion'
) is not null as scan_ordered;
update public.radiology_scans set status = 'acquired'
where patient_id = tests.id_of('patients', 'a_patient1');
select public.request_cdss_analysis(
    (
        select min(id::text)::uuid from public.radiology_scans
        where patient_id = tests.id_of('patients', 'a_patient1')
    ),
    'ecg_arrhythmia'
) is not null as analysis_requested;
select tests.act_as_service_role();
select
    public.complete_cdss_analysis(
        l.analysis_id, l.claim_token,
        jsonb_build_object(
            'model_name', 'ecg', 'inputs_sha256', repeat('0', 64), 'findings', jsonb_build_array('AF'),
            'confidence', 0.9, 'severity', 'low'
        )
    ) as analysis_completed
from public.claim_cdss_analyses(100) as l;
select tests.act_as('a_doctor', 'aal2');
select public.review_cdss_analysis(
    (
        select id from public.cdss_analyses
        where patient_id = tests.id_of('patients', 'a_patient1')
    ), 'override',
    'sinus rhythm with artefact'
) ->> 'status' as overridden;
select id is not null as issued from public.issue_prescription(
    tests.id_of('patients', 'a_patient1'), '[{"name": "Amlodipine", "quantity": 30}]', notes => 'check BP'
);
select tests.act_as_service_role();
insert into public.voice_lines (hospital_id, vapi_phone_number_id, phone)
values (tests.id_of('hospitals', 'TSTA'), 'pn-enc', '+911765500100');
select public.record_voice_call(
    jsonb_build_object(
        'type', 'end-of-call-report',
        'call', jsonb_build_object(
            'id', 'enc-call', 'phoneNumberId', 'pn-enc', 'customer', jsonb_build_object('number', '+919800010001')
        ),
        'artifact', jsonb_build_object('transcript', 'chest pain since morning')
    )
) ->> 'outcome' as voice_recorded;
-- A copilot session of a_patient1's: a turn with a tool call, and a proposed action.
select tests.act_as('a_patient1');
create temporary table enc_copilot on commit drop as
select (public.copilot_open_session() ->> 'id')::uuid as id;
select public.copilot_propose_action(
    (select id from enc_copilot), 'cancel_appointment', '{"appointment_id": "x"}', 'Cancel my visit'
) ->> 'status' as proposed;
select public.copilot_record_turn(
    (select id from enc_copilot), 'cancel my visit', 'Shall I cancel it?',
    '[{"tool": "my_appointments", "arguments": {}, "read_only": true, "outcome": "ok"}]'
) is not null as turn_recorded;
select tests.act_as('a_front_desk', 'aal2');
select
    (public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '234567891234')).id is not null
        as identified;
select tests.clear_authentication();

-- For each registered column: a row of it (a draft for notes), as JSON with the columns the API
-- roles may insert, and three values that did not come from private.encrypt_field just now.
create table tests.enc_target (table_name regclass, column_name text, row_id uuid, insertable jsonb);
create table tests.enc_payload (name text, value bytea);
create table tests.enc_attempt (
    actor text, table_name regclass, column_name text, op text, payload text, outcome text
);
grant select on tests.enc_target, tests.enc_payload to authenticated;
grant insert on tests.enc_attempt to authenticated;

do $$
declare
    target private.encrypted_columns;
    picked jsonb;
begin
    for target in select * from private.encrypted_columns loop
        -- a_patient1's rows written above, not those of any other data the database holds.
        execute format(
            'select to_jsonb(t) from %s as t where t.%I is not null and %s
             order by to_jsonb(t) ->> ''status'' = ''signed'' limit 1',
            target.table_name, target.column_name,
            case
                when target.table_name = 'public.prescription_items'::regclass
                    then 'exists (select from public.prescriptions as p where p.id = t.prescription_id and p.patient_id = $1)'
                when target.table_name in (
                    'public.ai_messages'::regclass, 'public.ai_tool_calls'::regclass, 'public.ai_pending_actions'::regclass
                )
                    then 'exists (select from public.ai_sessions as s where s.id = t.session_id and s.patient_id = $1)'
                else 't.patient_id = $1'
            end
        ) into picked using tests.id_of('patients', 'a_patient1');
        insert into tests.enc_target
        select
            target.table_name, target.column_name, (picked ->> 'id')::uuid,
            (
                select jsonb_object_agg(key, case key when 'id' then to_jsonb(gen_random_uuid()) else value end)
                from jsonb_each(picked)
                where has_column_privilege('authenticated', target.table_name, key, 'INSERT')
            );
    end loop;
end;
$$;
insert into tests.enc_payload values
('raw bytes', '\xdeadbeef00010203040506070809'),
('plain text', convert_to('{"plan": "typed in clear", "allergies": ["none"]}', 'UTF8')),
('copied ciphertext', (
    select soap_encrypted from public.clinical_notes
    where status = 'signed' and patient_id = tests.id_of('patients', 'a_patient1')
));

-- Tries every write and records what happened: refused as a direct write, refused for lack of
-- a privilege, no row (not visible to the actor), or written.
create function tests.enc_try(actor text)
returns void
language plpgsql
set search_path = ''
as $$
declare
    target tests.enc_target;
    payload tests.enc_payload;
    op text;
    changed integer;
    outcome text;
    state text;
    detail text;
begin
    for target in select * from tests.enc_target loop
        for payload in select * from tests.enc_payload loop
            foreach op in array array['insert', 'update'] loop
                begin
                    if op = 'insert' then
                        execute format(
                            'insert into %1$s (%2$s) select %2$s from jsonb_populate_record(null::%1$s, $1)',
                            target.table_name,
                            (
                                select string_agg(quote_ident(k), ', ')
                                from jsonb_object_keys(
                                    coalesce(target.insertable, '{}') || jsonb_build_object(target.column_name, null)
                                ) as k
                            )
                        ) using coalesce(target.insertable, '{}') || jsonb_build_object(target.column_name, payload.value);
                    else
                        execute format('update %s set %I = $1 where id = $2', target.table_name, target.column_name)
                        using payload.value, target.row_id;
                    end if;
                    get diagnostics changed = row_count;
                    outcome := case when changed = 0 then 'no row' else 'written' end;
                exception when others then
                    get stacked diagnostics state = returned_sqlstate, detail = pg_exception_detail;
                    outcome := case
                        when state = '42501' and detail = 'encrypted_column_direct_write' then 'refused'
                        when state = '42501' and sqlerrm like 'permission denied%' then 'no privilege'
                        else 'other error ' || state || ': ' || sqlerrm
                    end;
                end;
                insert into tests.enc_attempt values (actor, target.table_name, target.column_name, op, payload.name, outcome);
            end loop;
        end loop;
    end loop;
end;
$$;
grant execute on function tests.enc_try(text) to authenticated;

select tests.enc_try('owner');
select tests.act_as('a_doctor', 'aal2');
select tests.enc_try('care-team doctor');
select tests.act_as('a_front_desk', 'aal2');
select tests.enc_try('front desk');
select tests.clear_authentication();

select is(
    (select count(*)::integer from tests.enc_attempt),
    (select count(*)::integer * 3 * 2 * 3 from private.encrypted_columns),
    'every registered column was tried with three values, by insert and update, by three actors'
);
select is_empty(
    $$ select table_name::text || '.' || column_name || ' ' || op || ' ' || payload || ': ' || outcome
        from tests.enc_attempt where actor = 'owner' and outcome <> 'refused' $$,
    'the table owner (no row-level security) cannot store them either: the check is the column''s own'
);
select is_empty(
    $$ select actor || ' ' || table_name::text || '.' || column_name || ' ' || payload || ': ' || outcome
        from tests.enc_attempt where actor <> 'owner' and op = 'insert' and outcome <> 'refused'
            -- a table the API roles may not insert into at all (written by a function) refuses sooner
            and not (outcome = 'no privilege' and not has_any_column_privilege('authenticated', table_name, 'INSERT')) $$,
    'an API user inserting them is refused as a direct write (or, where only a function writes, lacks the privilege)'
);
select is_empty(
    $$ select actor || ' ' || table_name::text || '.' || column_name || ' ' || payload || ': ' || outcome
        from tests.enc_attempt
        where actor <> 'owner' and op = 'update' and outcome not in ('refused', 'no privilege', 'no row') $$,
    'an API user updating them is refused (as a direct write, or lacking the privilege), or reaches no row'
);
select results_eq(
    $$ select table_name::text, op, array_agg(distinct outcome order by outcome) from tests.enc_attempt
        where actor = 'care-team doctor'
            and table_name in ('public.clinical_notes'::regclass, 'public.prescription_items'::regclass)
        group by 1, 2 order by 1, 2 $$,
    $$ values ('clinical_notes', 'insert', '{refused}'::text []), ('clinical_notes', 'update', '{refused}'),
        ('prescription_items', 'insert', '{refused}'), ('prescription_items', 'update', '{"no privilege"}') $$,
    'the care-team doctor: raw bytes, plain text or a copied ciphertext in a note or a prescription line are refused'
);

do $$
declare
    target tests.enc_target;
    found integer;
begin
    for target in select * from tests.enc_target loop
        execute format(
            'select count(*) from %s as t where t.%I in (select value from tests.enc_payload where name <> ''copied ciphertext'')',
            target.table_name, target.column_name
        ) into found;
        if found > 0 then
            raise exception '%.% holds a value that was refused', target.table_name, target.column_name;
        end if;
    end loop;
end;
$$;
select pass('no refused value is stored anywhere');

-- What still works --------------------------------------------------------------------------------
select tests.act_as('a_doctor', 'aal2');
select lives_ok(
    $$ update public.clinical_notes set soap_encrypted = soap_encrypted where status = 'draft' $$,
    'an update leaving the ciphertext as it was is not checked'
);
select lives_ok(
    $$ select public.update_clinical_note(
        (select id from public.clinical_notes where status = 'draft'), '{"plan": "ECG today"}') $$,
    'the author rewrites the draft through rpc/update_clinical_note'
);
select is(
    public.clinical_note((
        select id from public.clinical_notes
        where status = 'draft'
    )) #>> '{soap,plan}', 'ECG today',
    'and reads it back'
);
select tests.act_as('a_front_desk', 'aal2');
select throws_ok(
    $$ update public.patient_identifiers set blind_index = '\x00'
        where patient_id = tests.id_of('patients', 'a_patient1') $$,
    '42501', 'a national number''s blind index and last digits change only with the number',
    'the front desk cannot change a blind index alone'
);
select throws_ok(
    $$ update public.patient_identifiers set last4 = '0000'
        where patient_id = tests.id_of('patients', 'a_patient1') $$,
    '42501', 'a national number''s blind index and last digits change only with the number',
    'nor the last digits shown in the mask'
);
select is(
    (public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '3456 7891 2345')).masked,
    'XXXX-XXXX-2345', 'rpc/set_patient_identifier changes the number, its index and its mask together'
);
select tests.clear_authentication();
select throws_ok(
    $$ insert into public.clinical_note_addenda (note_id, patient_id, hospital_id, author_id, body_encrypted)
        select n.id, n.patient_id, n.hospital_id, n.author_id, fresh.value
        from public.clinical_notes as n
        cross join (select private.encrypt_field('twice') as value) as fresh
        cross join generate_series(1, 2)
        where n.status = 'signed' $$,
    '42501', 'clinical_note_addenda.body_encrypted is written only by the functions that encrypt it',
    'one fresh ciphertext is stored in one row only'
);

select * from finish();
rollback;
