"""Billing: each hospital's service catalogue, an invoice for most finished visits (issued a
little after the visit, numbered per hospital and fiscal year in issue order, GST on the goods),
some with an insurer's share, and their payments: most paid at the counter or online when
issued, some in part, the insurer's share later, the rest unpaid (overdue once past their due
date). What the triggers would have written is written here: totals, taxes, numbers, receipt
numbers and the status history; the counters follow from the numbers (COUNTERS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from seed.randomness import Randomness, timestamp
from seed.world import IST_OFFSET, Table, World

# (code, name, kind, HSN/SAC, price in paise, GST rate %, appointment type it bills)
SERVICES = [
    ("CONSULT", "Consultation", "service", "999312", 50_000, 0, "consultation"),
    ("FOLLOWUP", "Follow-up consultation", "service", "999312", 30_000, 0, "follow_up"),
    ("ECG", "Electrocardiogram", "service", "999316", 30_000, 0, None),
    ("ECHO", "Echocardiography", "service", "999316", 180_000, 0, None),
    ("LABPANEL", "Basic laboratory panel", "service", "999316", 60_000, 0, None),
    ("DRESSING", "Dressing kit", "goods", "30059010", 15_000, 12, None),
]
INSURERS = ["Star Health", "Ayushman Bharat PM-JAY", "ICICI Lombard", "New India Assurance"]
DUE_DAYS = 15

COUNTERS = """
    insert into private.document_counters as c (hospital_id, series, fiscal_year, last_value)
    select i.hospital_id, 'invoice', i.fiscal_year, max(i.sequence_no) from public.invoices as i
    where i.hospital_id = any(%(hospitals)s) and i.sequence_no is not null
    group by 1, 3
    union all
    select p.hospital_id, 'receipt', p.fiscal_year, max(p.receipt_seq) from public.payments as p
    where p.hospital_id = any(%(hospitals)s) and p.receipt_seq is not null
    group by 1, 3
    on conflict on constraint document_counters_pkey
        do update set last_value = greatest(c.last_value, excluded.last_value)
"""


# The revenue summary the billing triggers would have kept (migration 20261214060000), recomputed
# from the rows loaded.
REVENUE_SUMMARY = [
    """
    insert into private.revenue_days (
        hospital_id, day, service_id, description, doctor_id, insurer,
        billed, collected, credited, refunded
    )
    select c.* from unnest(%(hospitals)s::uuid[]) as h, private.revenue_days_computed(h) as c
    """,
    """
    insert into private.revenue_invoice_days (invoice_id, day, events)
    select c.invoice_id, c.day, c.events
    from unnest(%(hospitals)s::uuid[]) as h, private.revenue_invoice_days_computed(h) as c
    """,
    """
    insert into private.revenue_day_invoices (
        hospital_id, day, previous_day, per_service, service_id, description, doctor_id,
        insurer, invoices
    )
    select c.*
    from unnest(%(hospitals)s::uuid[]) as h, private.revenue_day_invoices_computed(h) as c
    """,
    """
    insert into private.revenue_money_days (
        hospital_id, day, invoiced, payments, captured, refunds, refunded
    )
    select c.* from unnest(%(hospitals)s::uuid[]) as h, private.revenue_money_days_computed(h) as c
    """,
]


def money(paise: int) -> str:
    return f"{paise // 100}.{paise % 100:02d}"


def fiscal_year(day: date) -> str:
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def local_day(epoch: float) -> date:
    return datetime.fromtimestamp(epoch + IST_OFFSET, UTC).date()


@dataclass
class Bill:
    id: str
    hospital: int
    patient_id: str
    appointment_id: str
    issued_at: float
    total: int
    subtotal: int
    cgst: int
    insurer: str | None
    insurer_total: int
    lines: list[tuple] = field(default_factory=list)
    # (paise, payer, method, at) in time order
    payments: list[tuple[int, str, str, float]] = field(default_factory=list)


def _line_tax(taxable: int, rate: int) -> int:
    """One half of intra-state GST (CGST = SGST), rounded half up to the paisa."""
    half = (Decimal(taxable) * Decimal(rate) / Decimal(200)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(half)


def build(world: World) -> list[Table]:
    rng = Randomness(world.seed, "billing")
    services, invoices, lines, payments, history = [], [], [], [], []
    catalogue: dict[int, dict[str, str]] = {}
    for h, hospital in enumerate(world.hospitals):
        catalogue[h] = {}
        for code, name, kind, hsn_sac, price, rate, appointment_type in SERVICES:
            service_id = rng.uuid()
            catalogue[h][code] = service_id
            services.append(
                (
                    service_id,
                    hospital.id,
                    code,
                    name,
                    kind,
                    hsn_sac,
                    money(price),
                    "INR",
                    f"{rate:.2f}",
                    appointment_type,
                )
            )
    front_desk = {
        h: [s.user_id for s in world.staff_of(h, "front_desk")] for h in range(len(world.hospitals))
    }
    now = world.now
    prices = {service[0]: service[1:6] for service in SERVICES}

    bills: list[Bill] = []
    for visit in world.visits:
        if not visit.finished or visit.ends_at > now - 600 or not rng.chance(0.85):
            continue
        hospital = world.hospitals[visit.hospital]
        patient = world.patients[visit.patient]
        bill = Bill(
            id=rng.uuid(),
            hospital=visit.hospital,
            patient_id=patient.id,
            appointment_id=visit.appointment_id,
            issued_at=visit.ends_at + rng.randrange(120, 1200),
            total=0,
            subtotal=0,
            cgst=0,
            insurer=rng.choice(INSURERS) if rng.chance(0.2) else None,
            insurer_total=0,
        )
        if bill.issued_at > now:
            bill.issued_at = now - 60
        codes = ["FOLLOWUP" if rng.chance(0.3) else "CONSULT"]
        codes += rng.sample(["ECG", "ECHO", "LABPANEL", "DRESSING"], rng.choice((0, 0, 1, 1, 2)))
        insurer_part = rng.choice((50, 70, 100)) if bill.insurer else 0
        for n, code in enumerate(codes, 1):
            name, kind, hsn, price, rate = prices[code]
            tax = _line_tax(price, rate)
            line_total = price + 2 * tax
            insurer_share = line_total * insurer_part // 100
            bill.total += line_total
            bill.subtotal += price
            bill.cgst += tax
            bill.insurer_total += insurer_share
            bill.lines.append(
                (
                    rng.uuid(),
                    bill.id,
                    hospital.id,
                    patient.id,
                    n,
                    catalogue[visit.hospital][code],
                    name,
                    kind,
                    hsn,
                    "1.000",
                    money(price),
                    "0.00",
                    f"{rate:.2f}",
                    money(tax),
                    money(tax),
                    "0.00",
                    money(insurer_share),
                    money(line_total - insurer_share),
                    timestamp(bill.issued_at - 60),
                    timestamp(bill.issued_at - 60),
                )
            )
        patient_total = bill.total - bill.insurer_total
        outcome = rng.random()
        paid_at = bill.issued_at + rng.randrange(30, 900)
        method = rng.choices(("cash", "upi", "card_terminal", "online"), (40, 35, 15, 10))[0]
        if outcome < 0.75 and patient_total > 0 and paid_at < now:
            bill.payments.append((patient_total, "patient", method, paid_at))
        elif outcome < 0.85 and patient_total > 1:
            bill.payments.append((patient_total // 2, "patient", method, min(paid_at, now - 30)))
        if bill.insurer_total and bill.payments and rng.chance(0.7):
            settled = bill.issued_at + rng.randrange(2, 20) * 86400
            if settled < now:
                bill.payments.append((bill.insurer_total, "insurer", "insurance", settled))
        bills.append(bill)

    # Numbers in issue order, per hospital and fiscal year; receipts in payment order.
    sequence: dict[tuple[int, str], int] = {}
    numbered: dict[str, tuple[str, str, int]] = {}
    for bill in sorted(bills, key=lambda b: (b.issued_at, b.id)):
        fy = fiscal_year(local_day(bill.issued_at))
        n = sequence[(bill.hospital, fy)] = sequence.get((bill.hospital, fy), 0) + 1
        code = world.hospitals[bill.hospital].code
        numbered[bill.id] = (f"{code}/{fy}/{n:06d}", fy, n)
    receipts: dict[tuple[str, int], tuple[str, str, int]] = {}
    receipt_sequence: dict[tuple[int, str], int] = {}
    for at, bill_id, index, hospital in sorted(
        (p[3], b.id, i, b.hospital) for b in bills for i, p in enumerate(b.payments)
    ):
        fy = fiscal_year(local_day(at))
        n = receipt_sequence[(hospital, fy)] = receipt_sequence.get((hospital, fy), 0) + 1
        code = world.hospitals[hospital].code
        receipts[(bill_id, index)] = (f"{code}/RCP/{fy}/{n:06d}", fy, n)

    for bill in bills:
        hospital = world.hospitals[bill.hospital]
        desk = rng.choice(front_desk[bill.hospital]) if front_desk[bill.hospital] else None
        number, fy, n = numbered[bill.id]
        issued_day = local_day(bill.issued_at)
        due = date.fromordinal(issued_day.toordinal() + DUE_DAYS)
        # The overdue job's run once the due date has passed (00:07 the next day, local).
        overdue_at = world.local_midnight(due.toordinal() + 1) + 7 * 60
        steps: list[tuple[str | None, str, float, str | None, str | None]] = [
            (None, "draft", bill.issued_at - 60, desk, "front_desk"),
            ("draft", "issued", bill.issued_at, desk, "front_desk"),
        ]
        status, paid = "issued", 0
        events = [(at, paise) for paise, _, _, at in bill.payments]
        if overdue_at < now:
            events.append((overdue_at, 0))
        for at, paise in sorted(events):
            paid += paise
            if paid >= bill.total:
                target = "paid"
            elif at >= overdue_at or status == "overdue":
                target = "overdue"
            elif paid > 0:
                target = "partially_paid"
            else:
                target = "issued"
            if target != status:
                system = paise == 0
                steps.append(
                    (
                        status,
                        target,
                        at,
                        None if system else desk,
                        None if system else "front_desk",
                    )
                )
                status = target
        for from_state, to_state, at, actor, role in steps:
            history.append(
                (
                    rng.uuid(),
                    "invoice",
                    bill.id,
                    hospital.id,
                    from_state,
                    to_state,
                    actor,
                    role,
                    None,
                    timestamp(at),
                )
            )
        invoices.append(
            (
                bill.id,
                hospital.id,
                bill.patient_id,
                bill.appointment_id,
                number,
                fy,
                n,
                status,
                timestamp(steps[-1][2]),
                "INR",
                hospital.state,
                "intra_state",
                bill.insurer,
                money(bill.subtotal),
                money(bill.subtotal),
                money(bill.cgst),
                money(bill.cgst),
                money(bill.total),
                money(bill.insurer_total),
                money(bill.total - bill.insurer_total),
                money(paid),
                due.isoformat(),
                timestamp(bill.issued_at),
                desk,
                desk,
                timestamp(bill.issued_at - 60),
                timestamp(steps[-1][2]),
            )
        )
        lines.extend(bill.lines)
        for index, (paise, payer, method, at) in enumerate(bill.payments):
            receipt, receipt_fy, receipt_n = receipts[(bill.id, index)]
            payment_id = rng.uuid()
            online = method == "online"
            payments.append(
                (
                    payment_id,
                    hospital.id,
                    bill.patient_id,
                    bill.id,
                    payer,
                    method,
                    "razorpay" if online else None,
                    "order_" + rng.uuid().replace("-", "")[:14] if online else None,
                    "pay_" + rng.uuid().replace("-", "")[:14] if online else None,
                    money(paise),
                    "INR",
                    "captured",
                    timestamp(at),
                    receipt,
                    receipt_fy,
                    receipt_n,
                    f"UPI {rng.randrange(10**11, 10**12)}" if method == "upi" else None,
                    timestamp(at),
                    None if online or payer == "insurer" else desk,
                    timestamp(at - 120 if online else at),
                    timestamp(at),
                )
            )
            if online:
                history.append(
                    (
                        rng.uuid(),
                        "payment",
                        payment_id,
                        hospital.id,
                        None,
                        "created",
                        None,
                        "patient",
                        None,
                        timestamp(at - 120),
                    )
                )
                history.append(
                    (
                        rng.uuid(),
                        "payment",
                        payment_id,
                        hospital.id,
                        "created",
                        "captured",
                        None,
                        None,
                        None,
                        timestamp(at),
                    )
                )
            else:
                history.append(
                    (
                        rng.uuid(),
                        "payment",
                        payment_id,
                        hospital.id,
                        None,
                        "captured",
                        None if payer == "insurer" else desk,
                        None if payer == "insurer" else "front_desk",
                        None,
                        timestamp(at),
                    )
                )
    return [
        Table(
            "public.billing_services",
            [
                "id",
                "hospital_id",
                "code",
                "name",
                "kind",
                "hsn_sac",
                "unit_price",
                "currency",
                "gst_rate",
                "appointment_type",
            ],
            services,
        ),
        Table(
            "public.invoices",
            [
                "id",
                "hospital_id",
                "patient_id",
                "appointment_id",
                "number",
                "fiscal_year",
                "sequence_no",
                "status",
                "status_changed_at",
                "currency",
                "place_of_supply",
                "supply",
                "insurer_name",
                "subtotal",
                "taxable_total",
                "cgst_total",
                "sgst_total",
                "total",
                "insurer_total",
                "patient_total",
                "amount_paid",
                "due_date",
                "issued_at",
                "issued_by",
                "created_by",
                "created_at",
                "updated_at",
            ],
            invoices,
        ),
        Table(
            "public.invoice_lines",
            [
                "id",
                "invoice_id",
                "hospital_id",
                "patient_id",
                "line_no",
                "service_id",
                "description",
                "kind",
                "hsn_sac",
                "quantity",
                "unit_price",
                "discount",
                "gst_rate",
                "cgst",
                "sgst",
                "igst",
                "insurer_share",
                "patient_share",
                "created_at",
                "updated_at",
            ],
            lines,
        ),
        Table(
            "public.payments",
            [
                "id",
                "hospital_id",
                "patient_id",
                "invoice_id",
                "payer",
                "method",
                "gateway",
                "gateway_order_id",
                "gateway_payment_id",
                "amount",
                "currency",
                "status",
                "status_changed_at",
                "receipt_number",
                "fiscal_year",
                "receipt_seq",
                "reference",
                "captured_at",
                "recorded_by",
                "created_at",
                "updated_at",
            ],
            payments,
        ),
        Table(
            "public.status_history",
            [
                "id",
                "machine",
                "subject_id",
                "hospital_id",
                "from_state",
                "to_state",
                "actor_id",
                "actor_role",
                "reason",
                "occurred_at",
            ],
            history,
        ),
    ]
