"""carebase sidecar: the FastAPI service beside Supabase for what the database cannot do."""
