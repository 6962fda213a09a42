-- Field encryption without the iterated S2K (docs/field-encryption.md): pgp_sym_encrypt's
-- default string-to-key is iterated and salted (s2k-mode=3, ~65,000 hash rounds), made to slow
-- down guessing a passphrase; the field keys are random 32-byte secrets from Vault, which no
-- one guesses, so the iterations only cost every encrypt and decrypt about a millisecond.
-- Salted without iterations (s2k-mode=1) is as safe for such keys and about a hundred times
-- cheaper. pgp_sym_decrypt reads the mode from the message: ciphertexts written before keep
-- decrypting, and rotation rewrites them in the new mode. Only the options change.
create or replace function private.encrypt_field(plaintext text)
returns bytea
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    version integer := private.active_field_key_version();
    sealed bytea;
begin
    if plaintext is null then
        return null;
    end if;
    sealed := int2send(version::smallint)
        || extensions.pgp_sym_encrypt(plaintext, private.field_key(version), 'cipher-algo=aes256, s2k-mode=1');
    insert into private.fresh_ciphertexts (digest) values (extensions.digest(sealed, 'sha256'));
    return sealed;
end;
$$;
