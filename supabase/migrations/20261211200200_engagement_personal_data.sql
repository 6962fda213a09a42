-- The engagement tables' personal columns in the personal-data registry (20261209110000), so
-- that `carebase db masked-copy` replaces them: the two branches landed side by side. What a
-- patient wrote or was sent, and where it went, is personal; the hospital's own definitions
-- (journeys, templates, closures) are not.
insert into private.personal_data_columns (table_name, column_name, kind, note) values
('public.messages', 'address', 'identifier', null),
('public.messages', 'subject', 'free_text', null),
('public.messages', 'body', 'free_text', null),
('public.messages', 'template_variables', 'json', null),
('public.messages', 'status_reason', 'free_text', null),
('public.messages', 'error_code', 'none', 'a provider''s error code (Twilio 63016)'),
('public.messages', 'provider_message_id', 'none', 'the provider''s id of the message (a Twilio SID)'),
('public.tickets', 'title', 'free_text', null),
('public.tickets', 'description', 'free_text', null),
('public.tickets', 'resolution_notes', 'free_text', null),
('public.tickets', 'status_reason', 'free_text', null),
('public.ticket_comments', 'body', 'free_text', null),
('public.journey_instances', 'context', 'json', null),
('public.journey_instances', 'status_reason', 'free_text', null),
('public.journey_stage_events', 'notes', 'free_text', null),
('public.journey_stage_events', 'actions_done', 'json', null),
('public.journeys', 'name', 'none', 'the hospital''s name for a journey (post-surgery recovery)'),
('public.journeys', 'description', 'none', 'what a journey is for, written by the hospital'),
('public.journey_versions', 'trigger_conditions', 'none', 'a journey definition''s triggers'),
('public.journey_stages', 'name', 'none', 'a stage of a journey definition'),
('public.journey_stages', 'description', 'none', 'a stage of a journey definition'),
('public.journey_stages', 'actions', 'none', 'what a stage of a definition does (templates, tickets)'),
('public.message_templates', 'name', 'none', 'a template''s name'),
('public.message_templates', 'body', 'none', 'a template with placeholders; filled in only in messages.body'),
('public.message_templates', 'whatsapp_content_sid', 'none', 'Twilio''s id of an approved WhatsApp template'),
('public.hospital_closures', 'name', 'none', 'a day the hospital is closed (Diwali)'),
('private.analytics_refreshes', 'name', 'none', 'the name of a refreshed aggregate');
