-- Field encryption's string-to-key (20261213160000): new ciphertexts are salted without
-- iterations (s2k-mode=1: the keys are random secrets, not passphrases), and ciphertexts written
-- before with the default iterated mode (3) still decrypt, rotation included.
-- PGP layout after the 2-byte key version: packet tag (0xc3, symmetric session key), length,
-- version 4, cipher (9 = AES-256), then the S2K type at byte 6 of the stored value.
begin;
select plan(6);

create temporary table s2k_sample (name text primary key, sealed bytea not null);
insert into s2k_sample values
('new', private.encrypt_field('{"medication": "Amlodipine 5 mg"}')),
(
    'old',
    int2send(private.active_field_key_version()::smallint)
    || extensions.pgp_sym_encrypt(
        '{"medication": "Amlodipine 5 mg"}', private.field_key(private.active_field_key_version()),
        'cipher-algo=aes256'
    )
);

select is(
    (
        select get_byte(s.sealed, 6) from s2k_sample as s
        where s.name = 'new'
    ),
    1, 'a new ciphertext is salted, not iterated (S2K type 1)'
);
select is(
    (
        select get_byte(s.sealed, 5) from s2k_sample as s
        where s.name = 'new'
    ),
    9, 'and still AES-256'
);
select is(
    (
        select get_byte(s.sealed, 6) from s2k_sample as s
        where s.name = 'old'
    ),
    3, 'the sample of a value written before is iterated and salted (S2K type 3, the old default)'
);
select results_eq(
    $$ select private.decrypt_field(s.sealed) from s2k_sample as s order by s.name $$,
    $$ values ('{"medication": "Amlodipine 5 mg"}'), ('{"medication": "Amlodipine 5 mg"}') $$,
    'both decrypt to the same content'
);

-- Rotation rewrites an old value in the new mode, same content.
select private.create_field_key() is not null as rotated;
select is(
    (
        select get_byte(private.encrypt_field(private.decrypt_field(s.sealed)), 6) from s2k_sample as s
        where s.name = 'old'
    ),
    1, 're-encrypting a value written before writes it in the new mode'
);
select is(
    (
        select private.decrypt_field(private.encrypt_field(private.decrypt_field(s.sealed))) from s2k_sample as s
        where s.name = 'old'
    ),
    '{"medication": "Amlodipine 5 mg"}', 'with the same content, under the new key'
);

select * from finish();
rollback;
