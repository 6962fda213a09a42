"""Clients of the services beside the sidecar, one module per third party.

Each is reached through one base URL setting (sidecar/settings.py), so that tests and the local
stack point it at a fake or an emulator: the Supabase API (`supabase_api`), Firebase Auth
(`firebase_identity`: phone sign-in; `firebase_tokens`: ID token checks), FCM (`fcm`), Twilio
(`twilio_sms`), Cal.com (`calcom`: bookings, schedules), Vapi (`vapi`: calls) and Claude
(`claude`: the copilot's model turns, through the `anthropic` SDK). `outcomes` is
how a client reports a failed call: retry later or never, with a code a caller can act on.
They know nothing of HTTP routes; routes and jobs call them.
"""
