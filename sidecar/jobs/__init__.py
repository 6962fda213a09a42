"""The sidecar's background jobs, run by its worker process (`carebase worker`, `worker.py`).

`notifications`: the outbox's delivery through FCM and Twilio. `audit_anchors`: the audit
chain's signed anchors (`anchor_document`, `anchor_signing`, `anchor_store`), which
`anchor_verification` checks. Every later worker is a module here, started by `worker.py`.
"""
