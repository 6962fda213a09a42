-- The webhook inbox takes the events of every provider carebase hears from: Cal.com, Vapi,
-- Razorpay (payments) and Twilio (message status, WhatsApp); the billing and engagement work
-- each re-created the check knowing only their own.
alter table private.webhook_inbox drop constraint webhook_inbox_provider_known;
alter table private.webhook_inbox add constraint webhook_inbox_provider_known check (
    provider in ('calcom', 'vapi', 'razorpay', 'twilio')
);
