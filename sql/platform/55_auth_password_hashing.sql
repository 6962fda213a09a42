-- Supabase Auth's role may call pgcrypto in `extensions`: devstack's Auth stand-in hashes and
-- checks passwords with extensions.crypt() / gen_salt('bf'), the bcrypt hashes GoTrue stores
-- in auth.users.encrypted_password (real GoTrue hashes in Go and needs no such grant).
grant usage on schema extensions to supabase_auth_admin;
