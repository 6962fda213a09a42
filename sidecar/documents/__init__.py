"""Printable documents: invoice and prescription PDFs with a verification QR code."""
