"""A Supabase Auth (GoTrue)-compatible /auth/v1 for devstack, over the shim's `auth` tables."""
