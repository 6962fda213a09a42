-- Appointments booked through the AI copilot (issue 15) say so: the copilot's book tool passes
-- source => 'copilot' to rpc/book_appointment, as the voice agent passes 'voice_agent'.
alter type public.appointment_source add value 'copilot';

comment on type public.appointment_source is
'Where an appointment was booked: app, web, front_desk, voice_agent, calcom or copilot (the AI '
'copilot, on the user''s confirmation).';
