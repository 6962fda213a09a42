-- A table of the API without row-level security whose column names say credentials, national or
-- health identifiers, payment or device data: all of it readable by anyone with the API's key.
select
    'ERROR' as level,
    format('%s.%s', n.nspname, c.relname) as object,
    format(
        'is readable through the API without row-level security and holds %s',
        string_agg(a.attname, ', ' order by a.attname)
    ) as detail,
    'enable row level security (or revoke select from anon and authenticated)' as remedy
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
inner join pg_catalog.pg_attribute as a on c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped
where
    c.relkind = 'r'
    and not c.relrowsecurity
    and n.nspname = any(string_to_array(current_setting('carebase.lint.api_schemas'), ','))
    and n.nspname <> all(string_to_array(current_setting('carebase.lint.managed_schemas'), ','))
    and (
        pg_catalog.has_table_privilege('anon', c.oid, 'select')
        or pg_catalog.has_table_privilege('authenticated', c.oid, 'select')
    )
    and replace(lower(a.attname), '-', '_') in (
        'password', 'passwd', 'pwd', 'passphrase', 'secret', 'secret_key', 'private_key', 'api_key', 'apikey',
        'auth_key', 'token', 'jwt', 'access_token', 'refresh_token', 'oauth_token', 'session_token',
        'bearer_token', 'auth_code', 'session_id', 'session_key', 'session_secret', 'recovery_code',
        'backup_code', 'verification_code', 'otp', 'two_factor', '2fa_secret', '2fa_code',
        'ssn', 'social_security', 'social_security_number', 'driver_license', 'drivers_license',
        'license_number', 'passport_number', 'passport_id', 'national_id', 'tax_id',
        'credit_card', 'card_number', 'cvv', 'cvc', 'cvn', 'bank_account', 'account_number',
        'routing_number', 'iban', 'swift_code', 'bic',
        'health_record', 'medical_record', 'patient_id', 'insurance_number', 'health_insurance',
        'medical_insurance', 'treatment',
        'mac_address', 'macaddr', 'imei', 'device_uuid', 'pgp_key', 'gpg_key', 'ssh_key', 'certificate',
        'license_key', 'activation_key', 'facial_recognition'
    )
group by n.nspname, c.relname
