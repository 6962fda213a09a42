-- Postgres Changes (Supabase Realtime) stream the row changes of the tables in the
-- supabase_realtime publication, each to the subscribers whose RLS lets them read the row:
-- the appointment board and the prescription queue update live. Clinical records are not
-- published (their reads are logged, which Realtime cannot do); the live events of
-- 20261205001200 tell clients when to re-read them through the logged calls.
alter publication supabase_realtime add table public.appointments, public.prescriptions;
