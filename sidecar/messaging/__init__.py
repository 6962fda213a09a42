"""Messages to patients: what the database cannot do itself, rendering templates (Jinja2's
sandbox) for the communications route and the worker."""
