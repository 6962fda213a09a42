"""The sidecar's background jobs, run by its worker process (`carebase worker`)."""
