-- Comments in the catalog: what every table, view, column that needs one, RPC and type of the
-- API (schema public) is, who may see or call it, and the stable error codes an RPC raises.
-- The OpenAPI document at GET /rest/v1/ shows them as PostgREST does (a comment's first line
-- is the summary, the rest after a blank line the description; a column's comment is its
-- property's description), and so do Supabase Studio and generated client types.
-- tests/test_schema_conventions.py fails for any exposed object left without one.
--
-- Error codes: PostgREST answers PTxyz with HTTP xyz; 42501 is 403, 22023 is 400, 23505 and
-- 23P01 are 409. Staff reading or writing clinical data need an aal2 session, or PT403.

-- Types -------------------------------------------------------------------------------------

comment on type public.app_role is
'The role a person acts in: patient, or a staff role at a hospital.';
comment on type public.appointment_source is
'Where an appointment was booked: app, web, front_desk, voice_agent or calcom.';
comment on type public.appointment_status is
'States of an appointment; state_machine_transitions lists the allowed steps and who takes them.';
comment on type public.appointment_type is
'What an appointment is for.';
comment on type public.availability_exception_kind is
'A doctor''s dated exception to the weekly hours: time_off, or extra_hours.';
comment on type public.clinical_note_status is
'draft (the author may change it) or signed (immutable; corrections are addenda).';
comment on type public.consent_action is
'What a consent event records: granted or withdrawn.';
comment on type public.consent_purpose is
'What a patient consents to at a hospital: sharing records, an outside pharmacy, contact channels.';
comment on type public.consultation_mode is
'How a consultation takes place: video, audio or in_person.';
comment on type public.document_type is
'The kind of a patient document.';
comment on type public.free_slot is
'One bookable slot of a doctor (rpc/find_slots): its time range and the consultation modes offered.';
comment on type public.lab_result_status is
'normal, abnormal or critical; a critical result notifies the ordering doctor (or the care team).';
comment on type public.national_id_kind is
'The kind of a national identifier: aadhaar or ssn.';
comment on type public.prescription_status is
'States of a prescription; state_machine_transitions lists the allowed steps and who takes them.';
comment on type public.sex is
'A person''s sex as recorded: female, male, other or unknown.';
comment on type public.sync_state is
'Mirror state towards Cal.com: local (nothing to sync), pending, synced or failed.';
comment on domain public.phone_e164 is
'A phone number in E.164 (+, then 8 to 15 digits), so the voice agent and SMS can match callers.';

-- Tenants, people and staff ----------------------------------------------------------------

comment on table public.hospitals is
'Hospitals: the tenants; every tenant-scoped row carries a hospital_id.

Read by their staff and patients; updated by their admins. A deactivated hospital is gone for
its staff; its patients keep their own record there.';
comment on column public.hospitals.code is
'Short upper-case code (e.g. NAB); prefixes the hospital''s MRNs (NAB-2026-000001).';
comment on column public.hospitals.country_code is
'ISO 3166-1 alpha-2 country code.';
comment on column public.hospitals.time_zone is
'IANA time zone (e.g. Asia/Kolkata): working hours and the local times of views are in it.';
comment on column public.hospitals.is_active is
'False once deactivated: its staff lose access, its patients keep their own record.';

comment on table public.profiles is
'Profiles: one per login (auth.users), created and kept in step by triggers.

A user reads their own, their colleagues'' and the directory entries they may see; updates
their own (a hospital admin their staff''s).';
comment on column public.profiles.id is
'The user id (auth.users.id).';
comment on column public.profiles.preferred_language is
'Language code for messages to this person (e.g. en, hi).';

comment on table public.staff_memberships is
'Staff memberships: who works at which hospital in which role.

Made only by provisioning or an accepted invitation. A member reads their own and the
hospital''s roster; the hospital''s admin deactivates and reactivates them (is_active only).';
comment on column public.staff_memberships.user_id is
'The staff member''s user id.';
comment on column public.staff_memberships.role is
'The staff role (never patient).';
comment on column public.staff_memberships.is_active is
'False once deactivated: the login loses the hospital on its next request.';
comment on column public.staff_memberships.deactivated_at is
'When it was deactivated; null while active.';

comment on table public.staff_invitations is
'Invitations of existing logins to a hospital''s staff (7 days, single use, revocable).

Admins of the hospital read all of theirs; an invitee reads the open ones addressed to their
verified email. Written only through rpc/invite_staff, accept_staff_invitation,
decline_staff_invitation and revoke_staff_invitation. A decline is not shown to the hospital.';
comment on column public.staff_invitations.role is
'The staff role offered (never patient).';
comment on column public.staff_invitations.accepted_by is
'Who accepted it (user id).';

comment on table public.doctors is
'Doctors: a doctor''s professional profile at one hospital.

Read by the hospital''s staff and patients; written by its admin (a doctor edits their own
profile through rpc/update_doctor). Exists only for a login holding the doctor role there.';
comment on column public.doctors.user_id is
'The doctor''s user id.';
comment on column public.doctors.membership_role is
'Always doctor: with (user_id, hospital_id) it references the doctor''s staff membership.';
comment on column public.doctors.licence_number is
'Medical council registration number.';
comment on column public.doctors.licence_council is
'The council that issued the licence.';
comment on column public.doctors.calendar_color is
'Hex colour (#RRGGBB) of the doctor''s appointments in calendars.';
comment on column public.doctors.consultation_modes is
'The modes the doctor offers (at least one).';
comment on column public.doctors.languages is
'Languages the doctor consults in.';
comment on column public.doctors.is_active is
'False while deactivated (rpc/set_doctor_active): not bookable, no access.';

comment on table public.pharmacies is
'Pharmacies of a hospital; one is its default.

Read by the hospital''s staff and patients; written by its admin.';
comment on column public.pharmacies.is_default is
'Prescriptions go to the default pharmacy unless the doctor or patient picks another.';

comment on table public.pharmacists is
'Pharmacists: a pharmacist''s profile at a pharmacy of their hospital.

Read by the hospital''s admin and the pharmacist; written by the admin.';
comment on column public.pharmacists.user_id is
'The pharmacist''s user id.';
comment on column public.pharmacists.membership_role is
'Always pharmacist: with (user_id, hospital_id) it references the staff membership.';
comment on column public.pharmacists.pharmacy_id is
'The pharmacy (of the same hospital) they work at.';
comment on column public.pharmacists.is_active is
'False while deactivated (rpc/set_pharmacist_active).';

comment on table public.patients is
'Patients: the person, shared by the hospitals they are registered at.

A patient reads and updates their own record; staff of a hospital where they are registered
read them as their role allows (care team, front office, admin). Created by
rpc/register_patient or the patient phone login.';
comment on column public.patients.user_id is
'The patient''s login (user id), when they have one (phone sign-in).';
comment on column public.patients.phone is
'Not unique: a family often shares one phone.';
comment on column public.patients.preferred_language is
'Language code for messages to the patient (e.g. en, hi).';
comment on column public.patients.deleted_at is
'Archived when set: hidden from everyone but hospital admins.';

comment on table public.patient_registrations is
'Registrations: a patient at a hospital, with its MRN.

Read by the patient and the hospital''s staff as their role allows; made by its front office
(rpc/register_patient, rpc/register_existing_patient); archived and restored by its admin.';
comment on column public.patient_registrations.mrn is
'Medical record number (UHID), unique within the hospital; generated (CODE-YYYY-NNNNNN) when not given.';
comment on column public.patient_registrations.referral_source is
'How the patient came to the hospital (free text).';
comment on column public.patient_registrations.deleted_at is
'Archived when set (hospital admin); only admins still see it.';

comment on table public.care_team_members is
'Care teams: which doctors and nurses of a hospital look after which patient.

Clinical access follows it. Read by the hospital''s admin and front desk, the care team and the
patient; managed by the hospital''s admin and front desk.';
comment on column public.care_team_members.member_id is
'The doctor''s or nurse''s user id.';
comment on column public.care_team_members.member_role is
'doctor or nurse: a staff role the member holds at this hospital.';
comment on column public.care_team_members.is_primary is
'The patient''s primary doctor or nurse at this hospital.';
comment on column public.care_team_members.ended_at is
'When the member left the team; access ends with it. Null while on the team.';

-- Scheduling ----------------------------------------------------------------------------------

comment on table public.status_history is
'Status history: every state-machine transition taken (appointments, prescriptions).

Each row is readable under the row-level security of the appointment or prescription it
belongs to. Written only by the database.';
comment on column public.status_history.machine is
'The state machine: appointment or prescription.';
comment on column public.status_history.subject_id is
'The id of the appointment or prescription.';
comment on column public.status_history.from_state is
'The state before; null when the row was created in to_state.';
comment on column public.status_history.actor_id is
'Who took the step (user id); null for the system (service role or a database job).';
comment on column public.status_history.actor_role is
'The role the actor acted in.';
comment on column public.status_history.details is
'Extra facts about the event, e.g. the old and new times of a reschedule.';

comment on table public.doctor_working_hours is
'Working hours: a doctor''s weekly time ranges, in the hospital''s local time.

Replace a doctor''s whole week with rpc/set_doctor_schedule. Read by the hospital''s staff and
patients; written by the doctor and the hospital''s admin and front desk.';
comment on column public.doctor_working_hours.weekday is
'ISO weekday: 1 = Monday ... 7 = Sunday.';
comment on column public.doctor_working_hours.starts_at is
'Local wall-clock time in the hospital''s time zone.';
comment on column public.doctor_working_hours.ends_at is
'Local wall-clock time in the hospital''s time zone; may be 24:00 (midnight).';
comment on column public.doctor_working_hours.slot_minutes is
'Length of one bookable slot, in minutes (5 to 480).';
comment on column public.doctor_working_hours.valid_from is
'First day the range applies; null: open-ended.';
comment on column public.doctor_working_hours.valid_until is
'Last day the range applies; null: open-ended.';

comment on table public.doctor_availability_exceptions is
'Availability exceptions: a doctor''s dated time off and extra hours.

Read by the hospital''s staff; written by the doctor and the hospital''s admin and front desk.';
comment on column public.doctor_availability_exceptions.consultation_modes is
'For extra hours: the modes offered.';
comment on column public.doctor_availability_exceptions.slot_minutes is
'For extra hours: length of one bookable slot, in minutes.';

comment on table public.appointments is
'Appointments: a doctor seeing a patient (or a not yet registered lead) at a time.

No doctor, patient or room is ever double-booked: a clash is a 409 (23P01) naming the
appointment in the way only when the caller may read it. Front desk, admin and CRO book and
move them, a doctor their own, a patient their own; a nurse only takes the visit''s status
steps. Prefer rpc/book_appointment, reschedule_appointment and cancel_appointment.';
comment on column public.appointments.doctor_user_id is
'The doctor as a person (filled from doctors.user_id): one person is never in two places at once.';
comment on column public.appointments.patient_id is
'Null for leads and walk-ins not yet registered: the snapshot fields say who comes.';
comment on column public.appointments.patient_name_snapshot is
'The patient''s name as given when booking (kept as booked).';
comment on column public.appointments.phone_snapshot is
'The patient''s phone as given when booking.';
comment on column public.appointments.dob_snapshot is
'The patient''s date of birth as given when booking.';
comment on column public.appointments.sex_snapshot is
'The patient''s sex as given when booking.';
comment on column public.appointments.lead_id is
'The lead (leads pipeline) the booking is for, when the person is not yet a patient.';
comment on column public.appointments.mode is
'How the consultation takes place.';
comment on column public.appointments.video_room is
'Video or audio room reference (the call provider''s room name).';
comment on column public.appointments.resource is
'Room or machine booked with the appointment; never double-booked either.';
comment on column public.appointments.external_ref is
'Cal.com booking uid (or another scheduler''s reference).';
comment on column public.appointments.sync_state is
'Mirror state towards Cal.com.';
comment on column public.appointments.status is
'Changed only along state_machine_transitions (machine appointment); every step is in status_history.';
comment on column public.appointments.status_reason is
'Why the last status change was made (required for some steps, e.g. cancelling).';
comment on column public.appointments.booked_by is
'Who booked it (user id); set by the database.';

-- Prescriptions -------------------------------------------------------------------------------

comment on table public.prescriptions is
'Prescriptions: issued by a doctor to a patient, filled by a pharmacy.

Read by the patient, the issuing doctor, the pharmacy and the hospital''s admin; contents are
encrypted: read them with rpc/read_prescriptions. Issue with rpc/issue_prescription.';
comment on column public.prescriptions.doctor_id is
'The issuing doctor (doctors.id).';
comment on column public.prescriptions.pharmacy_id is
'The pharmacy that fills it: the doctor''s pick, else the patient''s choice, else the hospital''s default.';
comment on column public.prescriptions.status is
'Changed only along state_machine_transitions (machine prescription); every step is in status_history.';
comment on column public.prescriptions.status_reason is
'Why the last status change was made.';
comment on column public.prescriptions.verification_code is
'Code the pharmacy checks with rpc/verify_prescription.';
comment on column public.prescriptions.notes is
'Encrypted free-text notes for the patient and the pharmacy (rpc/read_prescriptions decrypts them).';
comment on column public.prescriptions.valid_until is
'After this the prescription expires (a job runs every 15 minutes).';

comment on table public.prescription_items is
'Prescription items: the lines of a prescription (encrypted contents, quantities).

Readable with the prescription; written by rpc/issue_prescription.';
comment on column public.prescription_items.line_no is
'Position of the line in the prescription (from 1).';
comment on column public.prescription_items.details is
'Encrypted {medicine, strength, dosage, frequency, duration, instructions} (rpc/read_prescriptions).';
comment on column public.prescription_items.quantity is
'Quantity prescribed, in the medicine''s units.';
comment on column public.prescription_items.dispensed_quantity is
'Quantity dispensed so far (sum of prescription_dispensings); never above quantity.';

comment on table public.prescription_dispensings is
'Dispensings: what a pharmacy handed out against a prescription item.

Read with the prescription; recorded by the pharmacy''s pharmacists.';
comment on column public.prescription_dispensings.quantity is
'Quantity handed out, in the medicine''s units.';

comment on table public.patient_pharmacy_choices is
'Pharmacy choices: a patient''s pick among a hospital''s pharmacies (one per hospital).

Read by the patient and the hospital''s admin, front desk and doctors; written by the patient
and the admin or front desk. Prescriptions go there unless the doctor names another.';

-- National identifiers and consent -----------------------------------------------------------

comment on table public.patient_identifiers is
'National identifiers of patients (Aadhaar, SSN), encrypted with a blind index and masks.

Only the masked columns are readable: by the patient, and by the front desk and admin of the
hospital that recorded the number (of any hospital of the patient when the patient did). Set
with rpc/set_patient_identifier, found with
rpc/find_patient_by_identifier, shown in clear with rpc/reveal_patient_identifier (logged).';
comment on column public.patient_identifiers.value_encrypted is
'The number encrypted with the field keys; never readable in clear by an API role.';
comment on column public.patient_identifiers.blind_index is
'Keyed hash of the normalized number, to find a patient by it without decrypting.';
comment on column public.patient_identifiers.last4 is
'The last four digits.';
comment on column public.patient_identifiers.masked is
'The number masked for display: XXXX-XXXX-1234 (Aadhaar), ***-**-6789 (SSN).';

comment on table public.consent_documents is
'Consent documents: the text a patient consents to, per hospital, purpose and version.

Read by the hospital''s staff and patients; published by its admin.';
comment on column public.consent_documents.version is
'Version of the text for its purpose at the hospital (from 1).';

comment on table public.consent_events is
'Consent events: every grant and withdrawal, append-only (current state: patient_consents).

Read and recorded by the patient and the hospital''s front desk and admin (rpc/grant_consent,
rpc/withdraw_consent).';
comment on column public.consent_events.recorded_by is
'Who recorded it (user id): the patient, or staff recording a paper consent.';

comment on table public.record_shares is
'Record shares: a patient''s record at one hospital shared with another (e.g. a referral).

Effective only while not revoked and while the patient''s record_sharing consent at the source
hospital stands; seen at the target only by the patient''s care team and the admin.';
comment on column public.record_shares.hospital_id is
'The source hospital, whose record is shared.';
comment on column public.record_shares.target_hospital_id is
'The hospital the record is shared with.';
comment on column public.record_shares.revoked_at is
'When the share ended; null while it stands.';

-- Clinical record -----------------------------------------------------------------------------

comment on table public.medical_profiles is
'Medical profiles: a patient''s blood group, allergies, chronic conditions and medications at a hospital.

Clinical: read by the patient, their care team and the admin, each read logged: a GET is
refused (PT405); read through rpc/patient_timeline or a write with return=representation.';
comment on column public.medical_profiles.details_encrypted is
'Encrypted {allergies, chronic_conditions, current_medications}.';

comment on table public.encounters is
'Encounters: one visit or contact of a patient with a clinician.

Clinical: read by the patient, their care team and the admin; written by the care team.
Each read is logged: a GET is refused (PT405); read through rpc/patient_timeline.';
comment on column public.encounters.clinician_id is
'The clinician who saw the patient (user id).';

comment on table public.clinical_notes is
'Clinical notes (SOAP): drafts by their author, then signed and immutable.

Clinical: read with rpc/clinical_note (logged; a GET is refused, PT405); written with
rpc/write_clinical_note, update_clinical_note, sign_clinical_note and add_note_addendum. The
patient reads signed notes.';
comment on column public.clinical_notes.author_id is
'The clinician who wrote it (user id).';
comment on column public.clinical_notes.status is
'draft or signed; signed_at is set exactly when signed.';
comment on column public.clinical_notes.soap_encrypted is
'Encrypted {chief_complaint, subjective, objective, assessment, plan}; rpc/clinical_note decrypts it.';
comment on column public.clinical_notes.deleted_at is
'Archived when set; clinical records are never deleted.';

comment on table public.clinical_note_addenda is
'Addenda: corrections or additions to a signed clinical note.

Clinical: read with rpc/clinical_note (logged; a GET is refused, PT405); written with
rpc/add_note_addendum.';
comment on column public.clinical_note_addenda.body_encrypted is
'The encrypted text of the addendum.';
comment on column public.clinical_note_addenda.author_id is
'The clinician who wrote it (user id).';

comment on table public.vital_signs is
'Vital signs: measurements with their units in the column names (plausible ranges enforced).

Clinical: read by the patient, their care team and the admin; recorded by the care team.
Each read is logged: a GET is refused (PT405); read through rpc/patient_timeline.';

comment on table public.diagnoses is
'Diagnoses: ICD-10 codes of a patient, one primary per encounter.

Clinical: read by the patient, their care team and the admin; recorded by the care team.
Each read is logged: a GET is refused (PT405); read through rpc/patient_timeline.';
comment on column public.diagnoses.icd10_code is
'ICD-10 code, e.g. E11.9.';
comment on column public.diagnoses.is_primary is
'The primary diagnosis (one per encounter; one current one per patient and hospital without an encounter).';
comment on column public.diagnoses.resolved_at is
'When the condition resolved; null while current.';

comment on table public.lab_results is
'Lab results: a test''s value, unit and status.

Clinical: read by the care team and the admin, by the patient once final; recorded by the care
team. Final results never change (corrections are new results). Each read is logged: a GET
is refused (PT405); read through rpc/patient_timeline.';
comment on column public.lab_results.ordered_by is
'The doctor who ordered the test (user id); told of a critical result.';
comment on column public.lab_results.status is
'normal, abnormal or critical; a critical result is notified (ordering doctor, else care team, else admins).';
comment on column public.lab_results.notes_encrypted is
'Encrypted free-text interpretation.';
comment on column public.lab_results.attachment_id is
'The report file (patient_documents.id), if any.';
comment on column public.lab_results.finalised_at is
'Set when final: from then on visible to the patient and immutable.';

comment on table public.patient_documents is
'Patient documents: metadata here, the file in Storage (bucket patient-documents).

Clinical (PHI): read by the patient, their care team, the front desk (insurance and consent
documents) and the admin; uploaded by the care team and the front desk. Each read is logged: a
GET is refused (PT405); read through rpc/patient_timeline.';
comment on column public.patient_documents.storage_path is
'Object path in bucket patient-documents: patients/{patient_id}/{document id}/{file name}.';
comment on column public.patient_documents.size_bytes is
'File size in bytes.';

-- Notifications ---------------------------------------------------------------------------------

comment on table public.device_tokens is
'Device tokens: a device''s FCM registration token, for push notifications.

Each user registers, reads and deletes only their own (POST /rest/v1/device_tokens).';
comment on column public.device_tokens.token is
'The FCM registration token; forgotten when FCM reports it invalid.';
comment on column public.device_tokens.platform is
'android, ios or web.';
comment on column public.device_tokens.last_seen_at is
'When the app last registered this token.';

-- Views -------------------------------------------------------------------------------------------

comment on view public.appointment_details is
'Appointments with who and when in the hospital''s local time.

Security invoker: the appointments (and names) the caller may read.';
comment on column public.appointment_details.time_zone is
'The hospital''s time zone; local_date and local_start_time are in it.';
comment on column public.appointment_details.local_date is
'The start date in the hospital''s time zone.';
comment on column public.appointment_details.local_start_time is
'The start time in the hospital''s time zone.';
comment on column public.appointment_details.duration_minutes is
'Length in minutes.';
comment on column public.appointment_details.patient_name is
'The patient''s name, or the name given at booking for a lead.';

comment on view public.appointments_today is
'Today''s appointments in the hospital''s own time zone (columns as appointment_details).

Security invoker: the appointments the caller may read.';

comment on view public.appointments_upcoming is
'Appointments not yet started and still expected (columns as appointment_details).

Security invoker: the appointments the caller may read.';

comment on view public.audit_trail is
'The audit trail of the caller''s hospitals (hospital admins): every write and logged read, hash-chained.

Entries of the admin''s hospitals and person-level entries about its patients; never another
hospital''s entries about a shared patient.';
comment on column public.audit_trail.seq is
'Position in the hash chain.';
comment on column public.audit_trail.actor_db_role is
'The database role of the request (authenticated, service_role, ...).';
comment on column public.audit_trail.actor_roles is
'The app roles the actor held.';
comment on column public.audit_trail.action is
'INSERT, UPDATE, DELETE, READ, or ANCHOR (the chain signed and exported).';
comment on column public.audit_trail.row_id is
'The id of the row acted on, as text.';
comment on column public.audit_trail.changed_fields is
'The columns an UPDATE changed.';
comment on column public.audit_trail.hash is
'SHA-256 (hex) over this entry and the previous entry''s hash.';

comment on view public.patient_consents is
'The current consent decision per patient, hospital and purpose (from consent_events).

Security invoker: under the events'' row-level security.';
comment on column public.patient_consents.granted is
'True when the latest event granted, false when it withdrew.';
comment on column public.patient_consents.version is
'The version of the consent document of the latest event.';

comment on view public.patient_timeline is
'A patient''s timeline: appointments, notes, lab results, prescriptions and documents, newest first.

Security invoker, each part under its own table''s row-level security: the front desk sees the
appointments, the care team everything, the patient signed notes and final results. Read it
with rpc/patient_timeline, which logs the read (a GET is refused, PT405).';
comment on column public.patient_timeline.kind is
'appointment, clinical_note, lab_result, prescription or document.';
comment on column public.patient_timeline.item_id is
'The id of the row in the table kind names.';
comment on column public.patient_timeline.summary is
'A one-line description of the item.';

comment on view public.prescription_details is
'Prescriptions with status codes and their lines, without contents.

Security invoker: the prescriptions the caller may read. rpc/read_prescriptions returns the
same rows with notes and medications in clear (logged).';
comment on column public.prescription_details.status_code is
'The status in upper case (PENDING, APPROVED, DENIED, COMPLETED, ...).';
comment on column public.prescription_details.notes is
'Null here; rpc/read_prescriptions fills it in clear.';
comment on column public.prescription_details.medications is
'The lines [{item_id, line_no, quantity, dispensed_quantity}]; rpc/read_prescriptions adds their contents.';

comment on view public.record_disclosures is
'A patient''s accounting of disclosures: who (name and roles), when, what, from where.

The patient reads every read of and write to their own record.';
comment on column public.record_disclosures.actor_name is
'The name of who read or wrote, even one the patient cannot see in profiles.';
comment on column public.record_disclosures.action is
'INSERT, UPDATE, DELETE or READ.';

comment on view public.state_machine_states is
'The states of every state machine (appointment, prescription), for dynamic UIs.

Readable by every signed-in user.';
comment on column public.state_machine_states.label is
'Human-readable name of the state.';
comment on column public.state_machine_states.position is
'Display order within the machine.';

comment on view public.state_machine_transitions is
'The allowed transitions of every state machine and the roles that may take them.

Readable by every signed-in user.';
comment on column public.state_machine_transitions.roles is
'The roles that may take the step.';
comment on column public.state_machine_transitions.requires_reason is
'Whether a reason must be given.';

-- RPCs (POST /rest/v1/rpc/<name>; stable and immutable ones also GET) ------------------------------

-- Staff invitations and provisioning. The comments given with a function's definition in earlier
-- migrations (invitations, audit anchors) are restated here as summary and description.

comment on function public.invite_staff(uuid, text, public.app_role, jsonb) is
'Invites an email to the hospital''s staff in a role (hospital admin); returns the invitation.

The answer is the same whether or not a login has this email; inviting again renews the open
invitation. A doctor''s profile needs specialty and licence_number; a pharmacist''s
licence_number (pharmacy_id: the hospital''s default when left out). Errors: 42501 not the
hospital''s admin, 22023 bad email, role or profile, 23505 licence number taken, PT422 no active
pharmacy of the hospital with this id.';

comment on function public.accept_staff_invitation(uuid) is
'Accepts an open invitation addressed to your verified email; returns the new membership.

You become a member of the hospital in the role (a doctor or pharmacist with the profile). Your
other sessions end when you were not staff before: sign in again with email and password.
Errors: PT404 no such invitation addressed to you, PT409 expired, accepted, withdrawn, declined,
hospital no longer active or role already held, 23505 licence number taken.';

comment on function public.decline_staff_invitation(uuid) is
'Declines an open invitation addressed to your verified email. The hospital is not told.

Errors: PT404 no such invitation addressed to you, PT409 no longer open.';

comment on function public.revoke_staff_invitation(uuid) is
'Withdraws an open invitation of your hospital (hospital admin); returns the invitation.

Errors: PT404 no invitation of your hospital with this id, PT409 already accepted.';

comment on function public.begin_doctor_provisioning(
    uuid, text, text, text, text, text, text, text, public.consultation_mode[], text[], text
) is
'Step 1 of provisioning a new doctor login (hospital admin): returns the grant id.

The sidecar then creates the login and calls rpc/complete_staff_provisioning. Defaults as in
doctors. Errors: 42501 not the hospital''s admin, 22023 bad input, PT409 a login has this email.';

comment on function public.begin_pharmacist_provisioning(uuid, text, text, text, uuid) is
'Step 1 of provisioning a new pharmacist login (hospital admin): returns the grant id.

Without a pharmacy, the hospital''s default. Errors: 42501 not the hospital''s admin, 22023 bad
input, PT409 a login has this email, PT422 no active pharmacy of the hospital with this id.';

comment on function public.complete_staff_provisioning(uuid, uuid) is
'Step 3 of provisioning (the admin who holds the grant): creates the doctor or pharmacist.

Redeems the grant for the login made for it; returns the new doctor or pharmacist. The audit
trail names the admin.';

comment on function public.update_doctor(
    uuid, text, text, text, text, text, text, public.consultation_mode[], text[], text
) is
'Updates a doctor''s profile and name (the doctor their own, the hospital''s admin any).

Fields left null keep their value; licence and status are the admin''s. Returns the doctor.
Errors: PT404 no such doctor, 42501 not allowed, 22023 bad input, 23505 duplicate licence.';

comment on function public.update_pharmacist(uuid, text, text, uuid) is
'Updates a pharmacist''s name, licence or pharmacy (hospital admin).

Fields left null keep their value. Returns the pharmacist. Errors: PT404 no such pharmacist,
42501 not allowed, 22023 bad input, PT422 the pharmacy is not the hospital''s.';

comment on function public.set_doctor_active(uuid, boolean) is
'Deactivates (active false) or reactivates a doctor at their hospital (hospital admin).

Deactivation ends the login''s sessions and bans it unless the login serves another role.
Returns the doctor plus login_keeps_access. Errors: PT404 no such doctor, 42501 not the admin.';

comment on function public.set_pharmacist_active(uuid, boolean) is
'Deactivates (active false) or reactivates a pharmacist at their hospital (hospital admin).

Deactivation ends the login''s sessions and bans it unless the login serves another role.
Returns the pharmacist plus login_keeps_access. Errors: PT404 no such pharmacist, 42501 not
the admin.';

comment on function public.unlock_login(uuid) is
'Lifts a password sign-in lockout (hospital admin of the user''s hospital).

Returns true when the login was locked. Errors: 42501 not allowed.';

-- Patients -------------------------------------------------------------------------------------

comment on function public.register_patient(uuid, text, text, date, public.sex, text, text, text, text) is
'Registers a new person as a patient at a hospital (front desk, admin or CRO of that hospital).

Returns the registration with its MRN (generated unless given). A person already known
elsewhere is registered with rpc/register_existing_patient. Errors: 42501 not allowed, 23505
MRN taken.';

comment on function public.issue_registration_code() is
'A patient proves presence at a new hospital: returns {code, expires_at}.

An 8-character code valid once for 15 minutes, which the patient tells the front desk
(rpc/register_existing_patient); a new code replaces the open one. Errors: 42501 not a
signed-in patient.';

comment on function public.register_existing_patient(uuid, text, text, text) is
'Registers a person already known elsewhere, with the code their app issued (front office).

Front desk, CRO or admin of the hospital; returns the registration. Errors: 42501 not allowed,
PT404 no such code (wrong, spent or expired), PT409 already registered there.';

comment on function public.set_patient_identifier(uuid, public.national_id_kind, text) is
'Records or replaces a patient''s national identifier (the patient, or front desk or admin).

Stored encrypted with a blind index; returns the row (masked). Errors: 22023 malformed number,
42501 not allowed, 23505 the number belongs to another patient.';

comment on function public.find_patient_by_identifier(public.national_id_kind, text) is
'Finds the patients with this national identifier that the caller may see.

By blind index: the number is never decrypted. Errors: 22023 malformed number.';

comment on function public.reveal_patient_identifier(uuid) is
'Returns a national identifier in clear (the patient, or staff of the recording hospital); logged.

Errors: 42501 may not see it, PT409 undecryptable_field (the stored value cannot be decrypted).';

comment on function public.grant_consent(uuid, uuid) is
'Grants the consent a consent document asks for (the patient; staff pass patient_id for paper).

Returns the consent event. Errors: PT404 no such consent document, 42501 not allowed.';

comment on function public.withdraw_consent(uuid, public.consent_purpose, uuid) is
'Withdraws consent for a purpose at a hospital (the patient; staff pass patient_id for paper).

Returns the consent event. Errors: PT404 the hospital has no consent document for the
purpose, 42501 not allowed.';

-- Patient phone login (service role: the sidecar) ------------------------------------------------

comment on function public.begin_patient_login(text) is
'Who signs in with this phone (service role: the sidecar''s patient phone login).

Returns the user id, or null when nobody does yet. Errors: PT409 staff_phone (a staff account''s
phone).';

comment on function public.link_patient_login(uuid, text, text) is
'Links a phone login to its patient record, creating it if needed (service role: the sidecar).

Returns {user_id, patient_id, outcome: existing | linked | created}. Errors: PT409 the phone
belongs to staff or the record is archived, PT422 the login does not sign in with this phone.';

-- Scheduling -------------------------------------------------------------------------------------

comment on function public.set_doctor_schedule(uuid, jsonb, text) is
'Replaces a doctor''s whole weekly schedule atomically: all ranges valid, or nothing changes.

hours: [{weekday, starts_at, ends_at, consultation_modes?, slot_minutes?, valid_from?,
valid_until?}]; [] clears it. Times are wall-clock times in the hospital''s time zone;
time_zone, when given, must be that zone. The doctor their own; the hospital''s admin and front
desk any of its doctors''. Returns the new rows. Errors: 22023 bad input, PT404 doctor not
found, 42501 not allowed.';

comment on function public.find_slots(
    timestamptz, timestamptz, uuid, text, public.consultation_mode, uuid
) is
'Free slots of the doctors the caller may see (by doctor_id or specialty), at most 31 days per call.

Computed from working hours, exceptions and appointments, across daylight saving changes.
Errors: 22023 bad range or arguments.';

comment on function public.check_conflicts(uuid, timestamptz, timestamptz, uuid, uuid, text) is
'Active appointments in the way of a proposed time (doctor, patient or room).

An appointment the caller may read is listed in full; any other only as what is taken
(conflict_on), once per kind. For a doctor whose schedule the caller may know and a patient
they may book there. Errors: PT404 doctor or patient out of reach, 42501 not allowed.';

comment on function public.book_appointment(
    uuid, timestamptz, timestamptz, uuid, public.appointment_type, public.consultation_mode, text,
    text, public.appointment_source, public.appointment_status, text, text, date, public.sex, uuid
) is
'Books an appointment; returns it.

A patient books for themself (patient_id may be omitted); front desk, admin and CRO book anyone
registered at the doctor''s hospital, or a lead or walk-in by name (patient_name,
patient_phone, ...); a doctor their care team''s patients. ends_at defaults to one slot.
Errors: 23P01 (409) a clash, naming what is taken; PT404 doctor or patient out of reach; 22023
bad input; 42501 not allowed.';

comment on function public.reschedule_appointment(uuid, timestamptz, timestamptz, text) is
'Moves an appointment (same id); returns it.

The old and new times go to status_history; ends_at defaults to the same length. Errors:
23P01 (409) a clash, PT404 no such appointment, 42501 not allowed.';

comment on function public.cancel_appointment(uuid, text) is
'Cancels an appointment with a reason; returns it.

The state machine decides who may cancel from which state. Errors: PT404 no such appointment,
42501 not allowed.';

comment on function public.appointment_stats(date, date, uuid) is
'Counts of the appointments the caller may see in a date range.

Returns {total, today, upcoming, requested, completed, cancelled, no_show, by_status,
by_type}, optionally for one hospital.';

comment on function public.metadata_enums() is
'Every enum of the API and every state machine''s states and transitions, for dynamic UIs.

Returns {enums: {type: [labels]}, state_machines: {machine: {states, transitions}}}.';

-- Prescriptions ------------------------------------------------------------------------------------

comment on function public.issue_prescription(uuid, jsonb, uuid, uuid, text, integer, uuid) is
'Issues a prescription (a doctor of the patient''s care team); returns it in clear (a logged read).

medications: [{medicine, strength, dosage, frequency, duration, instructions, quantity}]. The
pharmacy is the doctor''s pick, else the patient''s choice, else the hospital''s default; one of
another hospital only while the patient''s external_pharmacy consent stands. Errors: 22023 bad
input, 42501 not the patient''s doctor or no external_pharmacy consent, PT422 no active pharmacy.';

comment on function public.read_prescriptions(uuid[]) is
'The prescriptions in clear (patient, issuing doctor, pharmacy), newest first, each read logged.

Rows as prescription_details; undecryptable names the fields that could not be decrypted.
Errors: 22023 more than 100 ids, PT403 insufficient_aal (staff without aal2).';

comment on function public.verify_prescription(text) is
'Checks a prescription''s verification code (pharmacists, or the system).

Returns {valid, status, doctor_name, doctor_licence_number, hospital_name, issued_on}; valid is
false for an unknown code or a prescription no longer to be filled. Errors: 42501 not a
pharmacist.';

comment on function public.expire_prescriptions() is
'Expires the prescriptions past their validity (service role; a job runs it every 15 minutes).

Returns how many expired.';

-- Clinical record ----------------------------------------------------------------------------------

comment on function public.write_clinical_note(uuid, uuid, jsonb, uuid, uuid) is
'Writes a draft clinical note (the patient''s care team at that hospital); returns its id.

soap: {chief_complaint, subjective, objective, assessment, plan}, stored encrypted. Errors:
22023 bad input, 42501 not allowed, PT403 insufficient_aal.';

comment on function public.update_clinical_note(uuid, jsonb) is
'Replaces a draft note''s SOAP content (its author only; a signed note refuses).

Errors: PT404 no such note (or not the caller''s), PT403 insufficient_aal.';

comment on function public.sign_clinical_note(uuid) is
'Signs (finalises) a draft note; from then on it is immutable. Returns when it was signed.

Errors: PT404 no such note (or not the caller''s), PT403 insufficient_aal.';

comment on function public.add_note_addendum(uuid, text) is
'Adds a correction or addition to a signed note (the care team); returns the addendum''s id.

Errors: PT404 no such signed note, 22023 empty body, 42501 not allowed, PT403 insufficient_aal.';

comment on function public.clinical_note(uuid) is
'A clinical note in clear with its addenda; the read is logged.

Returns {id, patient_id, hospital_id, appointment_id, encounter_id, author_id, status,
signed_at, created_at, soap, addenda}. Errors: PT404 no such note (or not visible), PT409
undecryptable_field, PT403 insufficient_aal.';

comment on function public.patient_timeline(uuid) is
'A patient''s timeline, newest first (rows of the patient_timeline view); the read is logged.

Staff need aal2 before anything is read. Errors: PT403 insufficient_aal.';

-- Notifications -------------------------------------------------------------------------------------

comment on function public.claim_notifications(integer, interval, text[], integer) is
'Leases up to batch due notifications of the given channels to the caller (service role: the worker).

Returns, per row, the claim token, where it goes (device tokens or phone) and the text to send.
Errors: 22023 bad arguments.';

comment on function public.complete_notification(uuid, uuid, text) is
'Marks a claimed notification sent (service role: the worker).

False when the claim is no longer the caller''s (its lease ended and another worker took it).';

comment on function public.fail_notification(uuid, uuid, text, boolean, integer) is
'Records a failed delivery (service role: the worker).

A permanent failure, or the last of max_attempts, dead-letters the row; otherwise it is retried
after 30 s * 2^(attempts - 1), at most an hour, give or take 20 %. Returns the new state and
when it is due; no row when the claim is no longer the caller''s.';

comment on function public.forget_device_token(text) is
'Deletes a device token FCM reports invalid (service role: the worker). True when one was deleted.';

comment on function public.dead_notifications() is
'The dead-lettered notifications of the caller''s hospitals (hospital admins; empty for others).';

comment on function public.retry_notification(uuid) is
'Queues a dead notification again (hospital admin); returns pending, or cancelled when consent is withdrawn.

Errors: 42501 not a hospital admin, PT404 no such notification in your hospital, PT409 not dead.';

-- Audit and field encryption (service role) ----------------------------------------------------------

comment on function public.audit_chain_head() is
'The audit chain head: last seq, its hash in hex, when it moved (service role).';

comment on function public.audit_anchor_segment(bigint, integer) is
'The audit rows after after_seq (at most max_rows) to be anchored (service role: the exporter).

Returns the head''s seq, the hash of row after_seq as the database now has it, and the
segment''s first and last seq, last hash and time, and an 8-byte fingerprint (hex) of each
row''s hash in seq order. Errors: 22023 bad after_seq or max_rows.';

comment on function public.audit_log_canonical(bigint, bigint) is
'Audit rows from_seq..to_seq with the canonical text each hash covers (service role: the verifier).

At most 10000 rows per call. Errors: 22023 too many rows.';

comment on function public.audit_exported_anchors() is
'The exported anchors recorded in the database (service role: the verifier).';

comment on function public.record_audit_anchor(bigint, text, bigint, text, text, text) is
'Records an anchor the sidecar signed and exported (service role); returns its id.

Takes the seq, the hash in hex, its number in the store, the key id, the base64 signature and
the location. Errors: 22023 incomplete anchor, or the row does not have the anchored hash.';

comment on function public.db_pre_request() is
'PostgREST''s db-pre-request hook, not an API call.

Logs a READ entry for requests on clinical resources, refuses them in read-only requests
(PT405) and refuses the request shapes that could roll back the entry (PT400).';

comment on function public.verify_audit_chain(bigint, bigint) is
'Re-hashes the audit chain from_seq..to_seq (service role).

Returns valid, how many rows were checked, and the first bad seq with the problem.';

comment on function public.rotate_field_key() is
'Starts a field-key rotation: a new active key version, the old one decrypt-only (service role).

Returns the new version.';

comment on function public.rotate_field_encryption(integer) is
'Re-encrypts up to batch_size values under the active field key (service role).

Returns how many were re-encrypted; run until 0.';

comment on function public.retire_field_keys() is
'Retires the decrypt-only field keys no stored value uses any more (service role). Returns how many.';
