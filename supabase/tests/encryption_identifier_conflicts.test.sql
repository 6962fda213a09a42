-- A national identifier held by another patient (issue 10, finding 12). One person, one
-- number: the same patient registered at two hospitals shares it, two patients cannot. The
-- refusal says nothing of the other patient: not which constraint, key, hospital or row,
-- and the same whether the holder is in the caller's hospital or another one.
begin;
select plan(8);

select tests.create_world();

select tests.act_as('b_front_desk');
select public.set_patient_identifier(tests.id_of('patients', 'b_patient3'), 'aadhaar', '2345 6789 0123');
select public.set_patient_identifier(tests.id_of('patients', 'ab_patient4'), 'aadhaar', '3456 7890 1234');
select tests.act_as('a_front_desk');
select public.set_patient_identifier(tests.id_of('patients', 'a_patient2'), 'aadhaar', '4567 8901 2345');

select is(
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '2345 6789 0123') $$),
    jsonb_build_object(
        'code', '23505',
        'message', 'this national identifier cannot be recorded for this patient',
        'details', 'national_id_unavailable',
        'hint', 'check the number against the patient''s document'
    ),
    'a number another hospital''s patient holds is refused without naming the constraint, key or holder'
);
select is(
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '4567 8901 2345') $$),
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '2345 6789 0123') $$),
    'with the same answer as for a number a patient of its own hospital holds'
);
select is(
    tests.error_of($$ insert into public.patient_identifiers (patient_id, kind, value_encrypted, blind_index, last4)
        values (tests.id_of('patients', 'a_patient1'), 'aadhaar', private.encrypt_field('234567890123'),
        private.blind_index('aadhaar', '234567890123'), '0123') $$),
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '2345 6789 0123') $$),
    'a direct insert of the row gets the same answer'
);
select tests.act_as('a_patient1');
select is(
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '2345 6789 0123') $$),
    tests.error_of($$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar',
        '4567 8901 2345') $$),
    'and so does the patient entering it themself'
);
select tests.act_as('a_front_desk');
select is(
    (
        select masked from public.set_patient_identifier(
            tests.id_of('patients', 'ab_patient4'), 'aadhaar', '3456-7890-1234'
        )
    ),
    'XXXX-XXXX-1234',
    'the same person registered at two hospitals shares the number: recording it again is no conflict'
);
select lives_ok(
    $$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '5678 9012 3456') $$,
    'a number nobody holds is recorded'
);
select throws_ok(
    $$ select public.set_patient_identifier(tests.id_of('patients', 'a_patient1'), 'aadhaar', '2345 6789 0123') $$,
    '23505', null, 'changing it to a number another patient holds is refused too'
);
select tests.clear_authentication();
select is(
    (
        select count(*)::integer from public.patient_identifiers
        where kind = 'aadhaar' and blind_index = private.blind_index('aadhaar', '234567890123')
    ),
    1, 'and one patient still holds it'
);

select * from finish();
rollback;
