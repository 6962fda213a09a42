"""bench/REPORT.md: each benchmark owns one `## ` section and rewrites only that one."""

from __future__ import annotations

from pathlib import Path

REPORT = Path(__file__).with_name("REPORT.md")


def rewrite_section(section: str, report: Path = REPORT) -> None:
    """Replace the section whose heading (its first line) is `section`'s, or append it."""
    heading = section.split("\n", 1)[0]
    text = report.read_text() if report.exists() else "# Benchmark report\n"
    start = text.find(heading + "\n")
    if start >= 0:
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[following:] if following != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    report.write_text(text)
