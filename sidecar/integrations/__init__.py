"""Clients of the services beside the sidecar, one module per third party.

Each is reached through one base URL setting (sidecar/settings.py), so that tests and the local
stack point it at a fake or an emulator: the Supabase API (`supabase_api`), Firebase Auth
(`firebase_identity`: phone sign-in; `firebase_tokens`: ID token checks), FCM (`fcm`) and Twilio
(`twilio_sms`). `outcomes` is how a delivery channel reports a failed send. They know nothing of
HTTP routes; routes and jobs call them.
"""
