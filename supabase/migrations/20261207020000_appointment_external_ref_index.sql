-- A webhook for a booking carebase has not seen yet (every BOOKING_CREATED from Cal.com) looks
-- for an appointment already holding the uid (private.calendar_apply_booking, after the uid
-- lineage) and the reconciliation looks up the window's uids the same way: without an index
-- each of them read every appointment (1M on the `large` data set). Most appointments are
-- carebase's own and hold no uid, so the index keeps only those that do.
create index appointments_external_ref_idx on public.appointments (external_ref)
where external_ref is not null;
