"""Synthetic data for demos and benchmarks: `carebase seed generate --size tiny|demo|large|xl`.

One module per domain (people, hospitals and staff, schedules, appointments, prescriptions,
clinical records, consent and documents, notifications and audit); `load` writes them with
COPY and `check` verifies the result. See README, "Synthetic data".
"""
