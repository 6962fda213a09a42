-- rpc/analytics_communications from indexes alone (bench/engagement_analytics.py, bench/REPORT.md
-- "Engagement analytics and message search"): over 30 days it read the period's outbound
-- messages (45,000 of 1M) from the table to count them by channel and status, and for each of
-- the patients' messages (7,000) probed the patient's messages in time order, reading each from
-- the table to see which way it went. About 0.5 s, most of the dashboard's 30 days.
--
-- Covering indexes, not a daily rollup beside the appointments' one: the counts stay exact and
-- live (a message delivered a minute ago counts as delivered, with no refresh job to wait for or
-- to run), the reply times need each message anyway (a rollup of them would be per message), and
-- the period's messages are a narrow range of an index a hospital's list of messages already
-- needs. Index-only scans rely on the visibility map, which autovacuum keeps for the settled
-- pages; the latest rows are read from the table as before.

-- The hospital's list, newest first (as before), carrying what the counts and the reply times
-- read: direction, channel, status and the patient. Replaces the plain (hospital_id, created_at).
drop index public.messages_hospital_idx;
create index messages_hospital_idx on public.messages (hospital_id, created_at desc)
include (direction, channel, status, patient_id);

-- The hospital's next message to a patient after theirs (the reply time): one index probe.
create index messages_outbound_patient_idx on public.messages (patient_id, hospital_id, created_at)
where direction = 'outbound';
