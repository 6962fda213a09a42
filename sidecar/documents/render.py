"""Invoice and prescription PDFs with fpdf2.

Text is set in Noto Sans with Noto Sans Devanagari and Gurmukhi as fallbacks, shaped by
HarfBuzz (uharfbuzz), so Hindi and Punjabi names print as words, not boxes. Missing fonts
(Debian's fonts-noto-core, or CAREBASE_PDF_FONT_DIR) are an error, never a fallback to
boxes. The QR code (segno) holds the verification URL with its signed token only; a payable
invoice with an open payment link has a second one, "Scan to pay", with the link's URL.

The fonts are read once per process (per folder): fpdf2's parse of each font (character
widths, glyph ids, metrics) is kept, with the file's bytes less the tables fpdf2 drops from
every embedded font (the layout tables its subsetter would otherwise decompile for every
document) and HarfBuzz's blob of the whole file. Every document gets its own copy of what a
document changes: the glyph subset, cut from a font object of its own made from those bytes,
and HarfBuzz's font, sized per run of text. Concurrent renders share nothing mutable.
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import segno
import uharfbuzz
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import HarfBuzzFont, SubsetMap, TTFFont

DEFAULT_FONT_DIR = "/usr/share/fonts/truetype/noto"
FONTS = {
    "noto": "NotoSans",
    "deva": "NotoSansDevanagari",
    "guru": "NotoSansGurmukhi",
}
# The tables fpdf2 drops from every font it embeds (fpdf/output.py). Its subsetter reads the
# layout tables (GSUB, GPOS: most of a font's parse) before dropping them, so the copy each
# document cuts its subset from is made without them; HarfBuzz shapes with the whole font.
DROPPED_TABLES = (
    "FFTM",
    "GDEF",
    "GPOS",
    "GSUB",
    "MATH",
    "hdmx",
    "meta",
    "sbix",
    "CBDT",
    "CBLC",
    "EBDT",
    "EBLC",
    "EBSC",
    "SVG ",
    "CPAL",
    "COLR",
)
# Invoice statuses with something left to pay.
PAYABLE = frozenset({"issued", "partially_paid", "overdue"})


class FontsMissing(RuntimeError):
    """The Noto fonts the PDFs need are not installed."""


@dataclass(frozen=True)
class _Font:
    """One font file as fpdf2 parsed it, its bytes without the tables fpdf2 drops (each
    document's own subset is cut from them) and HarfBuzz's blob of the whole file (immutable,
    shared by every document's HarfBuzz font)."""

    family: str
    style: str
    parsed: TTFFont
    embeddable: bytes
    blob: Any


def _without_dropped_tables(data: bytes) -> bytes:
    font = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False)
    for tag in DROPPED_TABLES:
        if tag in font:
            del font[tag]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


_fonts: dict[Path, tuple[_Font, ...]] = {}
_fonts_lock = threading.Lock()


def _load_fonts(folder: Path) -> tuple[_Font, ...]:
    """The six fonts of a folder, parsed the first time a document needs them."""
    with _fonts_lock:
        if folder in _fonts:
            return _fonts[folder]
        loaded = []
        for family, stem in FONTS.items():
            for style, suffix in (("", "Regular"), ("B", "Bold")):
                path = folder / f"{stem}-{suffix}.ttf"
                if not path.is_file():
                    raise FontsMissing(
                        f"{path} is missing: install fonts-noto-core "
                        "(devstack/install-system-packages.sh) or set CAREBASE_PDF_FONT_DIR"
                    )
                scratch = FPDF()
                scratch.add_font(family, style, str(path))
                data = path.read_bytes()
                parsed = scratch.fonts[f"{family}{style}"]
                loaded.append(
                    _Font(
                        family,
                        style,
                        parsed,
                        _without_dropped_tables(data),
                        uharfbuzz.Blob(data),
                    )
                )
        _fonts[folder] = tuple(loaded)
        return _fonts[folder]


def _add_font(pdf: FPDF, font: _Font) -> None:
    """The parsed font in this document: what fpdf2 reads is shared, what it writes is its own."""
    parsed = font.parsed
    if parsed.color_font is not None:  # tied to the document it was parsed for
        pdf.add_font(font.family, font.style, str(parsed.ttffile))
        return
    own = TTFFont.__new__(TTFFont)
    for slot in TTFFont.__slots__:
        if hasattr(parsed, slot):
            setattr(own, slot, getattr(parsed, slot))
    own.i = len(pdf.fonts) + 1
    # The output cuts the subset out of this object: one of the document's own.
    own.ttfont = ttLib.TTFont(io.BytesIO(font.embeddable), recalcTimestamp=False, lazy=True)
    own.cw = copy.copy(parsed.cw)
    own.glyph_ids = dict(parsed.glyph_ids)
    own.missing_glyphs = []
    own.biggest_size_pt = 0
    own._hbfont = HarfBuzzFont(uharfbuzz.Face(font.blob))
    own.subset = SubsetMap(own)
    pdf.fonts[f"{font.family}{font.style}"] = own


def _pdf(font_dir: str, title: str) -> FPDF:
    folder = Path(font_dir or DEFAULT_FONT_DIR)
    fonts = _load_fonts(folder)
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("carebase")
    pdf.set_auto_page_break(True, margin=15)
    for font in fonts:
        _add_font(pdf, font)
    pdf.set_fallback_fonts(["deva", "guru"])
    pdf.set_text_shaping(True)
    pdf.add_page()
    return pdf


def _letterhead(pdf: FPDF, hospital: Mapping[str, Any], title: str) -> None:
    pdf.set_font("noto", "B", 16)
    pdf.cell(0, 8, hospital.get("name") or "", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("noto", "", 9)
    where = ", ".join(
        str(part)
        for part in (hospital.get("address"), hospital.get("city"), hospital.get("state"))
        if part
    )
    contact = "  ".join(str(p) for p in (hospital.get("phone"), hospital.get("email")) if p)
    for line in (where, contact):
        if line:
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(3)
    pdf.set_font("noto", "B", 13)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")


def _stamp(pdf: FPDF, word: str) -> None:
    pdf.set_font("noto", "B", 20)
    pdf.set_text_color(200, 0, 0)
    pdf.cell(0, 10, word, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _qr(pdf: FPDF, url: str, caption: str, link: bool = False) -> None:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=4, border=2)
    buffer.seek(0)
    pdf.ln(4)
    y = pdf.get_y()
    if y + 40 > pdf.h - pdf.b_margin:
        pdf.add_page()
        y = pdf.get_y()
    pdf.image(buffer, x=pdf.l_margin, y=y, w=32, h=32, link=url if link else "")
    pdf.set_xy(pdf.l_margin + 36, y + 8)
    pdf.set_font("noto", "", 8)
    pdf.multi_cell(0, 4, f"{caption}\n{url}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(y + 34)


def _money(value: Any) -> str:
    return f"{Decimal(str(value or 0)):,.2f}"


def _table(
    pdf: FPDF, widths: Sequence[int], header: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    pdf.set_font("noto", "B", 8)
    for width, text in zip(widths, header, strict=True):
        pdf.cell(width, 6, text, border=1)
    pdf.ln()
    pdf.set_font("noto", "", 8)
    for row in rows:
        for width, text in zip(widths, row, strict=True):
            pdf.cell(width, 6, text, border=1)
        pdf.ln()


def invoice_pdf(
    invoice: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    payments: Sequence[Mapping[str, Any]],
    hospital: Mapping[str, Any],
    patient_name: str,
    verify_url: str,
    font_dir: str = "",
    pay_url: str | None = None,
) -> bytes:
    """The invoice; `pay_url` (its open payment link) adds a "Scan to pay" QR code while the
    invoice is payable (never on a paid or cancelled one)."""
    pdf = _pdf(font_dir, f"Invoice {invoice.get('number') or '(draft)'}")
    _letterhead(pdf, hospital, "TAX INVOICE")
    if invoice["status"] == "cancelled":
        _stamp(pdf, "CANCELLED")
    pdf.set_font("noto", "", 10)
    issued = str(invoice.get("issued_at") or "")[:10]
    for label, value in (
        ("Invoice number", invoice.get("number") or "(draft)"),
        ("Date", issued),
        ("Status", str(invoice["status"]).replace("_", " ")),
        ("Patient", patient_name),
        (
            "Insurer",
            " ".join(
                p for p in (invoice.get("insurer_name"), invoice.get("insurer_policy_number")) if p
            ),
        ),
        ("Place of supply", invoice.get("place_of_supply") or ""),
    ):
        if value:
            pdf.cell(0, 6, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _table(
        pdf,
        (8, 62, 16, 12, 20, 14, 20, 28),
        ("#", "Description", "HSN/SAC", "Qty", "Price", "GST %", "GST", "Amount"),
        [
            (
                str(line["line_no"]),
                str(line["description"])[:40],
                str(line["hsn_sac"]),
                f"{Decimal(str(line['quantity'])).normalize():f}",
                _money(line["unit_price"]),
                f"{Decimal(str(line['gst_rate'])).normalize():f}",
                _money(
                    Decimal(str(line["cgst"]))
                    + Decimal(str(line["sgst"]))
                    + Decimal(str(line["igst"]))
                ),
                _money(line["line_total"]),
            )
            for line in lines
        ],
    )
    pdf.ln(2)
    currency = invoice.get("currency") or "INR"
    for label, key in (
        ("Subtotal", "subtotal"),
        ("Discount", "discount_total"),
        ("Taxable value", "taxable_total"),
        ("CGST", "cgst_total"),
        ("SGST", "sgst_total"),
        ("IGST", "igst_total"),
        ("Total", "total"),
        ("Insurer's share", "insurer_total"),
        ("Patient's share", "patient_total"),
        ("Paid", "amount_paid"),
        ("Credited", "amount_credited"),
    ):
        if key in ("subtotal", "total", "patient_total") or Decimal(str(invoice.get(key) or 0)):
            pdf.set_font("noto", "B" if key == "total" else "", 10)
            pdf.cell(
                0,
                6,
                f"{label}: {currency} {_money(invoice.get(key))}",
                align="R",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    if payments:
        pdf.ln(2)
        pdf.set_font("noto", "B", 10)
        pdf.cell(0, 6, "Payments", new_x="LMARGIN", new_y="NEXT")
        _table(
            pdf,
            (40, 40, 40, 40),
            ("Date", "Method", "Status", "Amount"),
            [
                (
                    str(p.get("captured_at") or p.get("created_at") or "")[:10],
                    str(p.get("method") or ""),
                    str(p.get("status") or ""),
                    _money(p.get("amount")),
                )
                for p in payments
            ],
        )
    if pay_url and invoice["status"] in PAYABLE:
        _qr(pdf, pay_url, "Scan to pay (Razorpay's secure payment page)", link=True)
    _qr(pdf, verify_url, "Scan to verify this invoice")
    return bytes(pdf.output())


def prescription_pdf(
    prescription: Mapping[str, Any],
    hospital: Mapping[str, Any],
    doctor: Mapping[str, Any],
    patient_name: str,
    verify_url: str,
    font_dir: str = "",
) -> bytes:
    pdf = _pdf(font_dir, f"Prescription {prescription.get('verification_code') or ''}")
    _letterhead(pdf, hospital, "PRESCRIPTION")
    if prescription["status"] in ("cancelled", "denied", "expired"):
        _stamp(pdf, str(prescription["status"]).upper())
    pdf.set_font("noto", "", 10)
    licence = " ".join(
        p for p in (doctor.get("licence_council"), doctor.get("licence_number")) if p
    )
    for label, value in (
        ("Doctor", doctor.get("name")),
        ("Qualification", doctor.get("qualification")),
        ("Registration", licence),
        ("Patient", patient_name),
        ("Date", str(prescription.get("issued_at") or "")[:10]),
        ("Valid until", str(prescription.get("valid_until") or "")[:10]),
        ("Verification code", prescription.get("verification_code")),
    ):
        if value:
            pdf.cell(0, 6, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    medications = prescription.get("medications") or []
    _table(
        pdf,
        (8, 52, 30, 30, 30, 30),
        ("#", "Medicine", "Dosage", "Frequency", "Duration", "Quantity"),
        [
            (
                str(i),
                " ".join(str(m[k]) for k in ("medicine", "strength") if m.get(k))[:34],
                str(m.get("dosage") or ""),
                str(m.get("frequency") or ""),
                str(m.get("duration") or ""),
                str(m.get("quantity") or ""),
            )
            for i, m in enumerate(medications, 1)
        ],
    )
    if notes := prescription.get("notes"):
        pdf.ln(2)
        pdf.multi_cell(0, 5, f"Notes: {notes}", new_x="LMARGIN", new_y="NEXT")
    _qr(pdf, verify_url, "Scan to verify this prescription")
    return bytes(pdf.output())
