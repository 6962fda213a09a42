"""The doctor and pharmacist bodies of /api/v1/doctors and /api/v1/pharmacists (seed 000's
NewDoctor and Doctor, with what the staff tables also hold).

Only shapes are checked here; who may do what, and everything the tables require, is checked
by the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

# Postgres text cannot hold NUL; refusing it here makes it a 422, not a database error.
_NO_NUL = r"^[^\x00]*$"


def _text(max_length: int, min_length: int = 1) -> FieldInfo:
    return Field(min_length=min_length, max_length=max_length, pattern=_NO_NUL)


Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
# The password policy is Supabase Auth's (supabase/config.toml); it answers weak_password.
Password = Annotated[str, Field(min_length=1, max_length=72, pattern=_NO_NUL)]
Name = Annotated[str, _text(200)]
Short = Annotated[str, _text(120)]
Colour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", examples=["#3B82F6"])]
ConsultationMode = Literal["video", "audio", "in_person"]
Languages = Annotated[list[Annotated[str, _text(35)]], Field(max_length=20)]
Bio = Annotated[str, _text(4000, min_length=0)]


class NewDoctor(BaseModel):
    email: Email
    password: Password
    full_name: Name
    specialty: Short
    hospital_id: UUID
    licence_number: Short = Field(description="Registration number with the medical council")
    qualification: Short | None = None
    licence_council: Short | None = None
    calendar_color: Colour | None = Field(None, description="Default #3B82F6")
    consultation_modes: Annotated[list[ConsultationMode], Field(min_length=1)] | None = Field(
        None, description="Default: all three"
    )
    languages: Languages | None = None
    bio: Bio | None = None


class DoctorUpdate(BaseModel):
    """Fields left out keep their value. Licence fields are for the hospital's admin."""

    full_name: Name | None = None
    specialty: Short | None = None
    qualification: Short | None = None
    licence_number: Short | None = None
    licence_council: Short | None = None
    calendar_color: Colour | None = None
    consultation_modes: Annotated[list[ConsultationMode], Field(min_length=1)] | None = None
    languages: Languages | None = None
    bio: Bio | None = None


class Doctor(BaseModel):
    id: UUID
    user_id: UUID
    hospital_id: UUID
    full_name: str | None
    email: str | None
    specialty: str
    qualification: str | None
    licence_number: str
    licence_council: str | None
    calendar_color: str
    consultation_modes: list[ConsultationMode]
    languages: list[str]
    bio: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class NewPharmacist(BaseModel):
    email: Email
    password: Password
    full_name: Name
    hospital_id: UUID
    licence_number: Short = Field(description="Registration number with the pharmacy council")
    pharmacy_id: UUID | None = Field(None, description="Default: the hospital's default pharmacy")


class PharmacistUpdate(BaseModel):
    """Fields left out keep their value."""

    full_name: Name | None = None
    licence_number: Short | None = None
    pharmacy_id: UUID | None = None


class Pharmacist(BaseModel):
    id: UUID
    user_id: UUID
    hospital_id: UUID
    full_name: str | None
    email: str | None
    pharmacy_id: UUID
    licence_number: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


StaffRole = Literal["doctor", "pharmacist", "hospital_admin", "front_desk", "cro", "nurse"]


class NewStaffMember(BaseModel):
    """Any staff role. `profile`: a doctor's (specialty, licence_number, qualification,
    licence_council, calendar_color, consultation_modes, languages, bio), a pharmacist's
    (licence_number, pharmacy_id), nothing for the other roles."""

    email: Email
    password: Password
    full_name: Name
    hospital_id: UUID
    role: StaffRole
    profile: dict[str, Any] = Field(default_factory=dict, max_length=20)


class StaffMember(BaseModel):
    """A row of rpc/staff_members: one membership of a person at a hospital."""

    membership_id: UUID
    user_id: UUID
    hospital_id: UUID
    role: StaffRole
    is_active: bool
    deactivated_at: datetime | None
    full_name: str | None
    email: str | None
    phone: str | None
    doctor_id: UUID | None
    pharmacist_id: UUID | None
    joined_at: datetime
    last_sign_in_at: datetime | None
    banned: bool
    password_change_required: bool


class PasswordChange(BaseModel):
    current_password: Password
    new_password: Password = Field(description="Supabase Auth's policy applies (weak_password)")


class PasswordChanged(BaseModel):
    user_id: UUID
    other_sessions_ended: bool


class PasswordReset(BaseModel):
    user_id: UUID
    email: str | None
    temporary_password: str = Field(
        description="Shown once: give it to the person, who must change it"
    )
    password_change_required: bool
