"""PDF rendering time and memory (issue 18 item 5): an invoice of 20 lines and 5 payments and a
prescription of 5 medicines, with Hindi and Punjabi names, rendered N times in this process
(fpdf2, Noto fonts, HarfBuzz shaping, a QR code). No database: only the rendering the PDF
routes do before storing. The first render of each kind is timed apart (the fonts are parsed
once per process); the CPU time is the process's, steadier than the wall time on a shared
machine.

    python -m bench.pdf_render [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from sidecar.documents import render

HOSPITAL = {"name": "Civil Hospital Nabha", "address": "Patiala Gate Road", "city": "Nabha"}
URL = "https://carebase.example/api/v1/verify/" + "i" + "0" * 96 + "." + "A" * 43
INVOICE = {
    "number": "NAB/2026-27/000123",
    "status": "issued",
    "issued_at": "2026-12-03T10:00:00+05:30",
    "currency": "INR",
    "subtotal": 10000,
    "taxable_total": 10000,
    "cgst_total": 900,
    "sgst_total": 900,
    "total": 11800,
    "insurer_total": 8000,
    "patient_total": 3800,
    "amount_paid": 3800,
    "insurer_name": "Star Health",
}
LINES = [
    {
        "line_no": n,
        "description": f"Ultrasound follow-up {n}",
        "hsn_sac": "999316",
        "quantity": 1,
        "unit_price": 500,
        "gst_rate": 18,
        "cgst": 45,
        "sgst": 45,
        "igst": 0,
        "line_total": 590,
    }
    for n in range(1, 21)
]
PAYMENTS = [{"method": "upi", "status": "captured", "amount": 760, "captured_at": "2026-12-03"}] * 5
PRESCRIPTION = {
    "status": "pending",
    "issued_at": "2026-12-03T10:00:00+05:30",
    "valid_until": "2027-01-02T10:00:00+05:30",
    "verification_code": "ABCD2345",
    "medications": [
        {"medicine": "Metformin", "strength": "500 mg", "dosage": "1 tablet", "quantity": 60}
    ]
    * 5,
    "notes": "Check sugar in two weeks",
}
DOCTOR = {"name": "Dr. Harpreet Sandhu", "qualification": "MD", "licence_number": "PMC 12345"}


def measure(label: str, make: object, runs: int) -> str:
    start = time.perf_counter()
    make()  # the first of its kind in the process: the fonts are parsed (once per process)
    first = (time.perf_counter() - start) * 1000
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        size = len(make())
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    tracemalloc.start()  # one more, traced (tracing slows it ~10x, so not timed)
    make()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (
        f"| {label} | {first:.0f} ms | {runs} | {statistics.median(times):.0f} ms "
        f"| {max(times):.0f} ms | {statistics.median(cpu):.0f} ms "
        f"| {peak / 1e6:.1f} MB | {size / 1024:.0f} KiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print(
        "| document | first render | runs | median | max | median CPU time "
        "| peak Python memory (one render) | size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        measure(
            "invoice, 20 lines, 5 payments",
            lambda: render.invoice_pdf(
                INVOICE, LINES, PAYMENTS, HOSPITAL, "बलविंदर सिंह / ਬਲਵਿੰਦਰ ਸਿੰਘ", URL
            ),
            runs,
        )
    )
    print(
        measure(
            "prescription, 5 medicines",
            lambda: render.prescription_pdf(PRESCRIPTION, HOSPITAL, DOCTOR, "ਬਲਵਿੰਦਰ ਸਿੰਘ", URL),
            runs,
        )
    )


if __name__ == "__main__":
    main()
