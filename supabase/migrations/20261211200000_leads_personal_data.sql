-- The leads' personal columns in the personal-data registry (20261209110000), so that
-- `carebase db masked-copy` replaces them: the two branches landed side by side.
insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.leads', 'full_name', 'person_name', null),
('public.leads', 'phone', 'phone', null),
('public.leads', 'email', 'email', null),
('public.leads', 'problem', 'free_text', null),
('public.leads', 'status_reason', 'free_text', null),
('public.leads', 'treatment_doctor', 'person_name', null),
('public.leads', 'treatment_suggested', 'free_text', null),
('public.lead_activities', 'notes', 'free_text', null),
('public.lead_activities', 'details', 'json', null),
('public.lead_follow_ups', 'note', 'free_text', null),
('public.lead_options', 'name', 'none', 'an entry of the hospital''s own lists (Walk-In, Google Ads, IVF)');
