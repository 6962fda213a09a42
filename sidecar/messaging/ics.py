"""Calendar invitations (iCalendar, RFC 5545) for appointment emails, as iTIP (RFC 5546) says.

One event per appointment: its UID is the appointment's, so a move (METHOD:REQUEST with a
higher SEQUENCE) updates the event the confirmation added and a cancellation (METHOD:CANCEL,
STATUS:CANCELLED) removes it. Times are in UTC (the `Z` form, no VTIMEZONE needed); the
hospital's time zone is named in the description. Lines end in CRLF and are folded at 75
octets (never inside a UTF-8 character); TEXT values escape backslash, semicolon, comma and
newlines; parameter values with `:;,` are quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

PRODID = "-//carebase//appointment emails//EN"
METHODS = ("REQUEST", "CANCEL")


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def param_value(value: str) -> str:
    """A parameter value (§3.2): quoted when it holds `:;,`; DQUOTE and controls dropped."""
    cleaned = "".join(c for c in value if c != '"' and (c == "\t" or ord(c) >= 0x20))
    return f'"{cleaned}"' if any(c in cleaned for c in ":;,") else cleaned


def fold(line: str) -> str:
    """A content line folded so no physical line is longer than 75 octets (§3.1)."""
    pieces: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    pieces.append(current)
    return "\r\n".join(pieces)


def utc(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def invitation(
    event: Mapping[str, Any], *, fallback_organizer: str, now: datetime | None = None
) -> str:
    """The .ics text of an appointment email, from rpc/message_calendar's fields."""
    method = str(event["method"])
    if method not in METHODS:
        raise ValueError(f"calendar method is one of {', '.join(METHODS)}, not {method!r}")
    starts = datetime.fromisoformat(str(event["starts_at"]))
    zone = str(event["time_zone"])
    local = starts.astimezone(ZoneInfo(zone))
    description = (
        f"At the hospital: {local:%Y-%m-%d %H:%M} ({zone}). "
        "To change or cancel it, log in to carebase or call the hospital."
    )
    organizer = event.get("organizer_email") or fallback_organizer
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{event['uid']}",
        f"DTSTAMP:{utc(now or datetime.now(UTC))}",
        f"SEQUENCE:{int(event['sequence'])}",
        f"STATUS:{event['status']}",
        f"DTSTART:{utc(starts)}",
        f"DTEND:{utc(str(event['ends_at']))}",
        f"SUMMARY:{escape_text(str(event['summary']))}",
        f"DESCRIPTION:{escape_text(description)}",
    ]
    if event.get("location"):
        lines.append(f"LOCATION:{escape_text(str(event['location']))}")
    organizer_name = param_value(str(event.get("organizer_name") or organizer))
    lines.append(f"ORGANIZER;CN={organizer_name}:mailto:{organizer}")
    if event.get("attendee_email"):
        name = param_value(str(event.get("attendee_name") or event["attendee_email"]))
        lines.append(
            f"ATTENDEE;CN={name};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=FALSE"
            f":mailto:{event['attendee_email']}"
        )
    lines += ["TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
