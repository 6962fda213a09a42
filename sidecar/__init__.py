"""carebase sidecar: the FastAPI service beside Supabase for what the database cannot do.

`routes/` answers HTTP (one module per endpoint family), `accounts/` takes the account steps
the database cannot take alone, `integrations/` holds one client per third party, `jobs/` the
worker and its jobs. At the top: the app (`app`, `serve`) and what every folder shares
(`settings`, `errors`, `observability`, `rate_limit`). Who may import whom:
docs/architecture.md, checked by tests/test_import_rules.py.
"""
