"""Communications of the generated hospitals (seed 001 PRM): message templates per hospital and
channel, and messages to and from patients on WhatsApp and SMS over the last days (and scheduled
ones ahead), in the statuses the outbox and Twilio's callbacks would have moved them to.

What the rules of rpc/send_message make of them, by construction:
- bodies carry no clinical content ("your report is ready, log in to view"); English, Hinglish,
  Hindi and Punjabi in their scripts;
- an outbound WhatsApp message is an approved template (a Content SID), or a reply typed within
  24 hours of the patient's own WhatsApp message (the customer-service window);
- SMS has no read receipts: delivered at most; failures carry Twilio's error code;
- a queued message (scheduled, or made in the last minutes) has its pending outbox row, made
  set-based after the load (DERIVED), as private.enqueue would have;
- patients have no email address on record, so email templates exist and no email was sent.
The status times are on each message (sent_at, delivered_at, read_at, failed_at); the status
history of messages is not written (a million messages would make millions of history rows
nobody reads), as the row triggers that would have written it were off.
"""

from __future__ import annotations

import itertools
import json
import re

from seed.randomness import Randomness, timestamp
from seed.world import IST_OFFSET, Table, World

# (code, name, category, channel, subject, body); a WhatsApp template is approved (has a
# Content SID) unless its code ends in _typed. Variables are the {{ names }} in the body.
TEMPLATES: list[tuple[str, str, str, str, str | None, str]] = [
    (
        "appointment_reminder",
        "Appointment reminder",
        "appointment",
        "sms",
        None,
        "Namaste {{ patient_name }}, a reminder of your appointment with "
        "{{ practitioner_name }} on {{ appointment_date }} at {{ appointment_time }}, "
        "{{ hospital_name }}. Reply C to confirm, or call us to change it.",
    ),
    (
        "appointment_reminder",
        "Appointment reminder",
        "appointment",
        "whatsapp",
        None,
        "Namaste {{ patient_name }} 🙏 Your appointment with {{ practitioner_name }} is on "
        "{{ appointment_date }} at {{ appointment_time }}. Please come 15 minutes early with "
        "your old reports. - {{ hospital_name }}",
    ),
    (
        "appointment_reminder_hinglish",
        "Appointment reminder (Hinglish)",
        "appointment",
        "whatsapp",
        None,
        "Namaste {{ patient_name }} ji, aapki appointment {{ practitioner_name }} ke saath "
        "{{ appointment_date }} ko {{ appointment_time }} baje hai. Kripya 15 minute pehle "
        "aa jaayein. - {{ hospital_name }}",
    ),
    (
        "appointment_reminder_hi",
        "Appointment reminder (Hindi)",
        "appointment",
        "sms",
        None,
        "नमस्ते {{ patient_name }} जी, {{ practitioner_name }} के साथ आपकी अपॉइंटमेंट "
        "{{ appointment_date }} को {{ appointment_time }} बजे है। - {{ hospital_name }}",
    ),
    (
        "appointment_reminder_pa",
        "Appointment reminder (Punjabi)",
        "appointment",
        "whatsapp",
        None,
        "ਸਤ ਸ੍ਰੀ ਅਕਾਲ {{ patient_name }} ਜੀ, {{ practitioner_name }} ਨਾਲ ਤੁਹਾਡੀ ਮੁਲਾਕਾਤ "
        "{{ appointment_date }} ਨੂੰ {{ appointment_time }} ਵਜੇ ਹੈ। - {{ hospital_name }}",
    ),
    (
        "results_ready",
        "Report ready",
        "results",
        "sms",
        None,
        "Dear {{ patient_name }}, your report is ready. Please log in to the "
        "{{ hospital_name }} app to view it, or collect it from the front desk.",
    ),
    (
        "results_ready",
        "Report ready",
        "results",
        "whatsapp",
        None,
        "{{ patient_name }} ji, aapki report ready hai. App mein login karke dekh lijiye. - "
        "{{ hospital_name }}",
    ),
    (
        "follow_up_due",
        "Follow-up visit due",
        "follow_up",
        "sms",
        None,
        "Dear {{ patient_name }}, it is time for your follow-up visit with "
        "{{ practitioner_name }}. Call {{ hospital_name }} or book in the app.",
    ),
    (
        "follow_up_due",
        "Follow-up visit due",
        "follow_up",
        "whatsapp",
        None,
        "ਸਤ ਸ੍ਰੀ ਅਕਾਲ {{ patient_name }} ਜੀ, {{ practitioner_name }} ਕੋਲ ਦੁਬਾਰਾ ਦਿਖਾਉਣ ਦਾ "
        "ਸਮਾਂ ਹੋ ਗਿਆ ਹੈ। ਐਪ ਵਿੱਚ ਸਮਾਂ ਲਓ। - {{ hospital_name }}",
    ),
    (
        "visit_instructions",
        "Before your visit",
        "instructions",
        "whatsapp",
        None,
        "Please bring your ID, your old reports and the list of medicines you take. Parking "
        "is at gate 2. - {{ hospital_name }}",
    ),
    (
        "stimulation_start",
        "Stimulation starts",
        "instructions",
        "whatsapp",
        None,
        "{{ patient_name }} ji, your stimulation starts today. Take the injections at the "
        "times your doctor wrote down, and call us with any question. - {{ hospital_name }}",
    ),
    (
        "pharmacy_ready",
        "Medicines ready",
        "pharmacy",
        "sms",
        None,
        "{{ patient_name }}, your medicines are ready for pickup at the {{ hospital_name }} "
        "pharmacy (9 am to 9 pm).",
    ),
    (
        "bill_due",
        "Bill reminder",
        "billing",
        "sms",
        None,
        "Dear {{ patient_name }}, a bill of Rs {{ amount }} is due at {{ hospital_name }}. "
        "Pay in the app or at the billing counter.",
    ),
    (
        "appointment_reminder",
        "Appointment reminder",
        "appointment",
        "email",
        "Your appointment at {{ hospital_name }}",
        "Dear {{ patient_name }},\n\nThis is a reminder of your appointment with "
        "{{ practitioner_name }} on {{ appointment_date }} at {{ appointment_time }}.\n\n"
        "Please bring your earlier reports.\n\n{{ hospital_name }}",
    ),
    (
        "results_ready",
        "Report ready",
        "results",
        "email",
        "Your report is ready",
        "Dear {{ patient_name }},\n\nYour report is ready. Log in to the app to view it.\n\n"
        "{{ hospital_name }}",
    ),
    (
        "diwali_greeting",
        "Festival greeting",
        "general",
        "whatsapp",
        None,
        "Aapko aur aapke parivaar ko Diwali ki hardik shubhkamnayein! 🪔 - {{ hospital_name }}",
    ),
]
VARIABLE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")
# Messages staff type (replies within the WhatsApp window, or SMS) and what patients write.
TYPED = [
    "Please call the front desk on 0172-2700000 about your visit.",
    "Your appointment is confirmed. Please come 15 minutes early.",
    "Aapki appointment confirm ho gayi hai, kal 11 baje aa jaiye.",
    "Ji haan, report app mein aa gayi hai. Login karke dekh lijiye.",
    "Doctor sahab kal OPD mein nahi hain, kya hum parso ka time de dein?",
    "कृपया अपनी पुरानी रिपोर्ट साथ लेकर आएं।",
    "ਤੁਹਾਡੀ ਅਪੌਇੰਟਮੈਂਟ ਪੱਕੀ ਹੋ ਗਈ ਹੈ। ਕਿਰਪਾ ਕਰਕੇ ਸਮੇਂ ਸਿਰ ਆਓ।",
    "We have received your payment. Thank you.",
]
INBOUND = [
    "Kal ki appointment confirm hai, main aa jaungi.",
    "Can I change my appointment to the evening?",
    "Report kab tak aayegi?",
    "क्या मैं अपनी अपॉइंटमेंट का समय बदल सकता हूँ?",
    "ਮੈਂ ਕੱਲ੍ਹ ਸਵੇਰੇ ਆਵਾਂਗਾ, ਧੰਨਵਾਦ।",
    "Parking kahan hai?",
    "Thank you doctor sahab 🙏",
    "C",
    "Is the pharmacy open on Sunday?",
]
FAILURES = [
    ("30003", "Unreachable destination handset"),
    ("30005", "Unknown destination handset"),
    ("30007", "Message filtered by the carrier"),
    ("30008", "Unknown error from the provider"),
]
# Outbound statuses as they end up (SMS: no read receipts).
WHATSAPP_STATUSES = ["read", "delivered", "sent", "failed", "cancelled"]
WHATSAPP_WEIGHTS = list(itertools.accumulate([55, 30, 4, 8, 3]))
SMS_STATUSES = ["delivered", "sent", "failed", "cancelled"]
SMS_WEIGHTS = list(itertools.accumulate([84, 5, 9, 2]))

TEMPLATE_COLUMNS = [
    "id",
    "hospital_id",
    "code",
    "name",
    "channel",
    "category",
    "subject",
    "body",
    "variables",
    "whatsapp_content_sid",
    "is_active",
    "created_by",
    "created_at",
    "updated_at",
]
MESSAGE_COLUMNS = [
    "id",
    "hospital_id",
    "patient_id",
    "journey_instance_id",
    "channel",
    "direction",
    "address",
    "subject",
    "body",
    "template_id",
    "template_variables",
    "status",
    "status_reason",
    "status_changed_at",
    "scheduled_for",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "provider_message_id",
    "created_by",
    "created_at",
    "updated_at",
]


def variables_of(body: str) -> list[str]:
    return list(dict.fromkeys(VARIABLE.findall(body)))


def render(body: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values[m.group(1)], body)


def _daytime(rng: Randomness, world: World, day_start: float) -> float:
    """A moment between 8 am and 8 pm in India on the day starting at day_start (UTC epoch)."""
    midnight = day_start - (day_start + IST_OFFSET) % 86400
    return midnight + rng.uniform(8, 20) * 3600


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "communications")
    now = world.now
    created = timestamp(now - (world.size.days_back + 30) * 86400)
    templates: list[tuple] = []
    usable: dict[tuple[int, str], list[tuple[str, str, list[str], bool]]] = {}
    for h, hospital in enumerate(world.hospitals):
        admin = world.staff_of(h, "hospital_admin")[0].user_id
        for code, name, category, channel, subject, body in TEMPLATES:
            template_id = rng.uuid()
            approved = channel == "whatsapp"
            sid = f"HX{rng.getrandbits(128):032x}" if approved else None
            names = variables_of(body + (subject or ""))
            templates.append(
                (template_id, hospital.id, code, name, channel, category, subject, body,
                 "{" + ",".join(names) + "}", sid, True, admin, created, created)
            )  # fmt: skip
            if channel != "email" and code != "diwali_greeting":
                usable.setdefault((h, channel), []).append((template_id, body, names, approved))
    return [
        Table("public.message_templates", TEMPLATE_COLUMNS, templates),
        Table("public.messages", MESSAGE_COLUMNS, _messages(world, rng, usable)),
    ]


def _messages(world: World, rng: Randomness, usable: dict) -> list[tuple]:
    now = world.now
    size = world.size
    start = now - size.days_back * 86400
    senders = {
        h: [s.user_id for s in world.staff if s.hospital == h and s.role in ("front_desk", "cro")]
        for h in range(len(world.hospitals))
    }
    doctors = {h: [s.name for s in world.staff_of(h, "doctor")] for h in senders}
    on_journey: dict[tuple[int, int], str] = {}
    for instance_id, patient, h in world.journey_instances:
        on_journey.setdefault((patient, h), instance_id)
    reachable = [p for p in world.patients if p.phone]
    index = {p.id: i for i, p in enumerate(world.patients)}
    rows: list[tuple] = []
    while len(rows) < size.messages:
        patient = rng.choice(reachable)
        h = rng.choice(patient.hospitals)
        hospital = world.hospitals[h]
        journey = on_journey.get((index[patient.id], h)) if rng.chance(0.3) else None
        at = _daytime(rng, world, start + rng.random() * (now - start))
        if at >= now - 60:
            at = now - rng.uniform(120, 86400)
        staff = rng.choice(senders[h])
        first = patient.full_name.split()[0]
        values = {
            "patient_name": first,
            "practitioner_name": rng.choice(doctors[h]),
            "hospital_name": hospital.name,
            "appointment_date": timestamp(at + rng.uniform(1, 6) * 86400)[:10],
            "appointment_time": f"{rng.randrange(9, 18)}:{rng.choice(('00', '15', '30', '45'))}",
            "amount": f"{rng.randrange(3, 250) * 100:,}",
        }
        whatsapp = rng.chance(0.6)
        if whatsapp and rng.chance(0.3):
            # A conversation: the patient writes, staff answer within the window.
            rows.append(
                _row(rng, hospital.id, patient, journey, "whatsapp", "inbound",
                     rng.choice(INBOUND), None, None, at, None,
                     "received" if at > now - 86400 or rng.chance(0.08) else "read")
            )  # fmt: skip
            reply = at + rng.uniform(2, 240) * 60
            if reply < now - 60:
                rows.append(
                    _row(rng, hospital.id, patient, journey, "whatsapp", "outbound",
                         rng.choice(TYPED), None, None, reply, staff,
                         _outbound_status(rng, "whatsapp", reply, now))
                )  # fmt: skip
            continue
        channel = "whatsapp" if whatsapp else "sms"
        scheduled = rng.chance(0.04)
        if scheduled:
            at = _daytime(rng, world, now + rng.uniform(0.2, size.days_ahead) * 86400)
        if channel == "whatsapp" or rng.chance(0.8):
            template_id, body, names, _ = rng.choice(usable[(h, channel)])
            variables = {n: values[n] for n in names}
            text = render(body, variables)
        else:
            template_id, variables, text = None, None, rng.choice(TYPED)
        status = "queued" if scheduled else _outbound_status(rng, channel, at, now)
        rows.append(
            _row(rng, hospital.id, patient, journey, channel, "outbound", text, template_id,
                 variables, at, staff, status, scheduled_for=at if scheduled else None,
                 made=now - rng.uniform(1, 72) * 3600 if scheduled else at)
        )  # fmt: skip
    return rows[: size.messages]


def _outbound_status(rng: Randomness, channel: str, at: float, now: float) -> str:
    if now - at < 120:
        return "queued"
    if channel == "whatsapp":
        return rng.choices(WHATSAPP_STATUSES, cum_weights=WHATSAPP_WEIGHTS)[0]
    return rng.choices(SMS_STATUSES, cum_weights=SMS_WEIGHTS)[0]


def _row(
    rng: Randomness,
    hospital_id: str,
    patient,
    journey: str | None,
    channel: str,
    direction: str,
    body: str,
    template_id: str | None,
    variables: dict | None,
    at: float,
    staff: str | None,
    status: str,
    scheduled_for: float | None = None,
    made: float | None = None,
) -> tuple:
    made = at if made is None else made
    sent = delivered = read = failed = None
    reason = error = provider = None
    changed = made
    if status not in ("queued", "cancelled", "received"):
        sent = at + rng.uniform(1, 5) if direction == "outbound" else None
        provider = ("SM" if channel == "sms" else "MM") + f"{rng.getrandbits(128):032x}"
        changed = sent or at
        if status in ("delivered", "read") and direction == "outbound":
            delivered = changed = sent + rng.uniform(2, 90)
        if status == "read":
            read = changed = (delivered or at) + rng.uniform(60, 6 * 3600)
        if status == "failed":
            error, reason = rng.choice(FAILURES)
            failed = changed = sent + rng.uniform(5, 300)
    elif status == "cancelled":
        reason = "the patient asked not to be sent reminders"
        changed = made + rng.uniform(60, 3600)
    elif status == "received":
        provider = "MM" + f"{rng.getrandbits(128):032x}"
    return (
        rng.uuid(),
        hospital_id,
        patient.id,
        journey,
        channel,
        direction,
        patient.phone,
        None,
        body,
        template_id,
        json.dumps(variables or {}, ensure_ascii=False),
        status,
        reason,
        timestamp(changed),
        timestamp(scheduled_for) if scheduled_for else None,
        timestamp(sent) if sent else None,
        timestamp(delivered) if delivered else None,
        timestamp(read) if read else None,
        timestamp(failed) if failed else None,
        error,
        provider,
        staff if direction == "outbound" else None,
        timestamp(made),
        timestamp(changed),
    )


DERIVED = [
    # private.enqueue, as rpc/send_message would have called it: each queued outbound message
    # waits in the outbox for its time.
    """
    insert into private.outbox
        (kind, subject_type, subject_id, hospital_id, recipient_kind, recipient_id, channel,
         payload, state, deliver_after, attempts, created_at, updated_at)
    select 'message', 'message', m.id, m.hospital_id, 'patient', m.patient_id, m.channel::text,
        jsonb_build_object('message_id', m.id), 'pending',
        greatest(coalesce(m.scheduled_for, m.created_at), m.created_at), 0, m.created_at,
        m.created_at
    from public.messages as m
    where m.hospital_id = any(%(hospitals)s) and m.status = 'queued'
    """,
]
