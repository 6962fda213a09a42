-- Demo data for local development: one hospital in Nabha (Punjab), its staff, five patients
-- and the doctors' working hours. Staff sign in with email and the password Carebase#2026, then
-- verify a TOTP code of the demo secret CAREBASEDEMOSTAFFTOTPNABHA234567; patients sign in with
-- their phone number (OTP). Applied by `carebase db reset` / `make up` on a new database; `make
-- up` then adds the synthetic hospitals of `carebase seed generate --size demo` (README, "Demo
-- data"), which leave this hospital as it is.

insert into public.hospitals (id, code, name, address, city, state, phone, email)
values (
    '10000000-0000-4000-8000-000000000001', 'NAB', 'Civil Hospital Nabha',
    'Patiala Gate Road', 'Nabha', 'Punjab', '+911765220011', 'contact@nabha.carebase.test'
);

-- Staff logins: email + password, as Supabase Auth stores them.
with staff (id, email, full_name) as (
    values
    ('20000000-0000-4000-8000-000000000001'::uuid, 'admin@nabha.carebase.test', 'Harpreet Kaur'),
    ('20000000-0000-4000-8000-000000000002'::uuid, 'dr.sandhu@nabha.carebase.test', 'Dr. Gurpreet Sandhu'),
    ('20000000-0000-4000-8000-000000000003'::uuid, 'dr.mehta@nabha.carebase.test', 'Dr. Anjali Mehta'),
    ('20000000-0000-4000-8000-000000000004'::uuid, 'dr.bhatia@nabha.carebase.test', 'Dr. Rohit Bhatia'),
    ('20000000-0000-4000-8000-000000000005'::uuid, 'pharmacist@nabha.carebase.test', 'Manpreet Gill'),
    ('20000000-0000-4000-8000-000000000006'::uuid, 'frontdesk@nabha.carebase.test', 'Simran Dhillon'),
    ('20000000-0000-4000-8000-000000000007'::uuid, 'cro@nabha.carebase.test', 'Arjun Sharma'),
    ('20000000-0000-4000-8000-000000000008'::uuid, 'nurse@nabha.carebase.test', 'Kiranjeet Brar')
),

inserted as (
    insert into auth.users (
        instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
        confirmation_token, recovery_token, email_change_token_new, email_change
    )
    select
        '00000000-0000-0000-0000-000000000000',
        s.id,
        'authenticated',
        'authenticated',
        s.email,
        extensions.crypt('Carebase#2026', extensions.gen_salt('bf')),
        now(),
        '{"provider": "email", "providers": ["email"]}',
        jsonb_build_object('full_name', s.full_name),
        now(),
        now(),
        '',
        '',
        '',
        ''
    from staff as s
    returning id, email
)

insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, updated_at)
select
    gen_random_uuid(),
    i.id::text,
    i.id,
    jsonb_build_object('sub', i.id::text, 'email', i.email, 'email_verified', true),
    'email',
    now(),
    now()
from inserted as i;

-- Every staff login has a verified TOTP factor (staff read and write clinical records only at
-- aal2). The demo secret is the same for all of them and documented in the README: put it in
-- an authenticator app, or compute the code (pyotp.TOTP(secret).now()).
insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
select
    ('21000000-0000-4000-8000-' || right(u.id::text, 12))::uuid,
    u.id,
    'Demo authenticator',
    'totp',
    'verified',
    now(),
    now(),
    'CAREBASEDEMOSTAFFTOTPNABHA234567'
from auth.users as u
where u.email like '%@nabha.carebase.test' and u.id::text like '20000000-%';

insert into public.staff_memberships (user_id, hospital_id, role, created_by)
select
    m.user_id::uuid,
    '10000000-0000-4000-8000-000000000001',
    m.role::public.app_role,
    null
from (
    values
    ('20000000-0000-4000-8000-000000000001', 'hospital_admin'),
    ('20000000-0000-4000-8000-000000000002', 'doctor'),
    ('20000000-0000-4000-8000-000000000003', 'doctor'),
    ('20000000-0000-4000-8000-000000000004', 'doctor'),
    ('20000000-0000-4000-8000-000000000005', 'pharmacist'),
    ('20000000-0000-4000-8000-000000000006', 'front_desk'),
    ('20000000-0000-4000-8000-000000000007', 'cro'),
    ('20000000-0000-4000-8000-000000000008', 'nurse')
) as m (user_id, role);

insert into public.doctors (
    id, user_id, hospital_id, specialty, qualification, licence_number, licence_council,
    calendar_color, consultation_modes, languages
)
values
(
    '30000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000002',
    '10000000-0000-4000-8000-000000000001', 'General Medicine', 'MBBS, MD',
    'PMC-38211', 'Punjab Medical Council', '#2563EB', '{video,audio,in_person}', '{pa,hi,en}'
),
(
    '30000000-0000-4000-8000-000000000002', '20000000-0000-4000-8000-000000000003',
    '10000000-0000-4000-8000-000000000001', 'Paediatrics', 'MBBS, DCH',
    'PMC-41907', 'Punjab Medical Council', '#16A34A', '{video,in_person}', '{hi,en}'
),
(
    '30000000-0000-4000-8000-000000000003', '20000000-0000-4000-8000-000000000004',
    '10000000-0000-4000-8000-000000000001', 'Cardiology', 'MBBS, MD, DM (Cardiology)',
    'PMC-29544', 'Punjab Medical Council', '#DC2626', '{video,in_person}', '{pa,en}'
);

insert into public.pharmacies (id, hospital_id, name, licence_number, phone, address, is_default)
values (
    '40000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001',
    'Civil Hospital Nabha Pharmacy', 'PB-RLP-1187', '+911765220012', 'Ground floor, OPD block',
    true
);

insert into public.pharmacists (user_id, hospital_id, pharmacy_id, licence_number)
values (
    '20000000-0000-4000-8000-000000000005', '10000000-0000-4000-8000-000000000001',
    '40000000-0000-4000-8000-000000000001', 'PSPC-77120'
);

-- Patients sign in with their phone (Supabase Auth stores it without the '+').
insert into auth.users (
    instance_id, id, aud, role, phone, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data,
    created_at, updated_at
)
select
    '00000000-0000-0000-0000-000000000000',
    p.id::uuid,
    'authenticated',
    'authenticated',
    ltrim(p.phone, '+'),
    now(),
    '{"provider": "phone", "providers": ["phone"]}',
    jsonb_build_object('full_name', p.full_name),
    now(),
    now()
from (
    values
    ('50000000-0000-4000-8000-000000000001', '+919876500001', 'Balwinder Singh'),
    ('50000000-0000-4000-8000-000000000002', '+919876500002', 'Paramjit Kaur'),
    ('50000000-0000-4000-8000-000000000003', '+919876500003', 'Ramesh Kumar'),
    ('50000000-0000-4000-8000-000000000004', '+919876500004', 'Navneet Kaur'),
    ('50000000-0000-4000-8000-000000000005', '+919876500005', 'Sukhdev Singh')
) as p (id, phone, full_name);

insert into public.patients (
    id, user_id, full_name, date_of_birth, sex, phone, preferred_language, city, district, state,
    postal_code, emergency_contact_name, emergency_contact_phone, emergency_contact_relation
)
values
(
    '60000000-0000-4000-8000-000000000001', '50000000-0000-4000-8000-000000000001',
    'Balwinder Singh', '1961-03-14', 'male', '+919876500001', 'pa', 'Nabha', 'Patiala',
    'Punjab', '147201', 'Jasvir Kaur', '+919876500011', 'wife'
),
(
    '60000000-0000-4000-8000-000000000002', '50000000-0000-4000-8000-000000000002',
    'Paramjit Kaur', '1978-11-02', 'female', '+919876500002', 'pa', 'Nabha', 'Patiala',
    'Punjab', '147201', 'Harjit Singh', '+919876500012', 'husband'
),
(
    '60000000-0000-4000-8000-000000000003', '50000000-0000-4000-8000-000000000003',
    'Ramesh Kumar', '1990-06-25', 'male', '+919876500003', 'hi', 'Bhadson', 'Patiala',
    'Punjab', '147202', 'Sunita Devi', '+919876500013', 'mother'
),
(
    '60000000-0000-4000-8000-000000000004', '50000000-0000-4000-8000-000000000004',
    'Navneet Kaur', '2017-09-09', 'female', '+919876500004', 'pa', 'Nabha', 'Patiala',
    'Punjab', '147201', 'Gurdeep Singh', '+919876500014', 'father'
),
(
    '60000000-0000-4000-8000-000000000005', '50000000-0000-4000-8000-000000000005',
    'Sukhdev Singh', '1955-01-30', 'male', '+919876500005', 'pa', 'Rohti Chhanna', 'Patiala',
    'Punjab', '147201', 'Manjit Singh', '+919876500015', 'son'
);

-- MRNs are generated (NAB-<year>-000001 ...).
insert into public.patient_registrations (patient_id, hospital_id, registered_by)
select
    p.id,
    '10000000-0000-4000-8000-000000000001',
    '20000000-0000-4000-8000-000000000006'
from public.patients as p
order by p.id;

insert into public.care_team_members (patient_id, hospital_id, member_id, member_role, is_primary)
select
    c.patient_id::uuid,
    '10000000-0000-4000-8000-000000000001',
    c.member_id::uuid,
    c.member_role::public.app_role,
    c.is_primary
from (
    values
    ('60000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000002', 'doctor', true),
    ('60000000-0000-4000-8000-000000000002', '20000000-0000-4000-8000-000000000002', 'doctor', true),
    ('60000000-0000-4000-8000-000000000003', '20000000-0000-4000-8000-000000000002', 'doctor', true),
    ('60000000-0000-4000-8000-000000000004', '20000000-0000-4000-8000-000000000003', 'doctor', true),
    ('60000000-0000-4000-8000-000000000005', '20000000-0000-4000-8000-000000000004', 'doctor', true),
    ('60000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000008', 'nurse', false),
    ('60000000-0000-4000-8000-000000000002', '20000000-0000-4000-8000-000000000008', 'nurse', false)
) as c (patient_id, member_id, member_role, is_primary);

-- Working hours (Asia/Kolkata, the hospital's time zone), so that rpc/find_slots has slots for
-- the demo doctors: Dr. Sandhu Monday to Saturday 09:00-13:00 and 14:00-17:00 (15 minutes a
-- slot), Dr. Mehta Monday to Saturday 10:00-14:00 (20 minutes), Dr. Bhatia Monday, Wednesday
-- and Friday 09:00-13:00 (30 minutes).
insert into public.doctor_working_hours (
    doctor_id, hospital_id, weekday, starts_at, ends_at, consultation_modes, slot_minutes
)
select
    d.id,
    d.hospital_id,
    w.weekday,
    h.starts_at,
    h.ends_at,
    d.consultation_modes,
    h.slot_minutes
from public.doctors as d
inner join (
    values
    ('30000000-0000-4000-8000-000000000001'::uuid, '09:00'::time, '13:00'::time, 15, '{1,2,3,4,5,6}'::smallint[]),
    ('30000000-0000-4000-8000-000000000001'::uuid, '14:00'::time, '17:00'::time, 15, '{1,2,3,4,5,6}'::smallint[]),
    ('30000000-0000-4000-8000-000000000002'::uuid, '10:00'::time, '14:00'::time, 20, '{1,2,3,4,5,6}'::smallint[]),
    ('30000000-0000-4000-8000-000000000003'::uuid, '09:00'::time, '13:00'::time, 30, '{1,3,5}'::smallint[])
) as h (doctor_id, starts_at, ends_at, slot_minutes, weekdays) on d.id = h.doctor_id
cross join lateral unnest(h.weekdays) as w (weekday);
