"""devstack Storage: Supabase Storage's API at /storage/v1 (see api.py)."""
