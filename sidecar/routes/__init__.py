"""The sidecar's HTTP routes, one module per concern."""
