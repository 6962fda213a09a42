"""Documents the sidecar writes for people to open: spreadsheets (xlsx)."""
