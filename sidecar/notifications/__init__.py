"""Notification delivery: workers claim outbox rows and send them through channel adapters."""
