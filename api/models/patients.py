"""Patients, their care teams and the enrolment of devices through gateways."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator

NhsNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10,
                                             max_length=12)]


def nhs_number_valid(digits: str) -> bool:
    """NHS number modulus 11 check digit (NHS Data Dictionary)."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


class PatientOut(BaseModel):
    id: int
    nhs_number: str
    display_name: str
    date_of_birth: date | None
    active: bool
    created_at: datetime
    team_ids: list[int]


class PatientList(BaseModel):
    patients: list[PatientOut]


class PatientCreate(BaseModel):
    nhs_number: NhsNumber = Field(description="10 digits; spaces allowed (e.g. 943 476 5919)")
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                   max_length=200)]
    date_of_birth: date | None = None
    team_ids: Annotated[list[int], Field(min_length=1, max_length=20)] = Field(
        description="Care teams of the admin's organisation that will look after the patient")

    @field_validator("nhs_number")
    @classmethod
    def _valid_nhs_number(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not nhs_number_valid(digits):
            raise ValueError("not a valid NHS number (10 digits with a correct check digit)")
        return digits

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        if value is not None and not date(1880, 1, 1) <= value <= date.today():
            raise ValueError("date of birth must be between 1880-01-01 and today")
        return value


DeviceAddress = Annotated[str, StringConstraints(strip_whitespace=True,
                                                 pattern=r"^[A-Za-z0-9:._-]{1,64}$")]
GatewayIdText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class EnrolmentCreate(BaseModel):
    gateway_id: GatewayIdText
    device_address: DeviceAddress = Field(description="The device id on the wire (BLE address)")
    model: ShortText | None = None
    manufacturer: ShortText | None = None
    serial: ShortText | None = None
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")


class EnrolmentEnd(BaseModel):
    reason: ShortText | None = None


class EnrolmentOut(BaseModel):
    id: int
    patient_id: int
    gateway_id: str
    device_id: int
    device_address: str
    model: str | None
    manufacturer: str | None
    starts_at: datetime
    ends_at: datetime | None
    active: bool
    ended_reason: str | None


class EnrolmentList(BaseModel):
    enrolments: list[EnrolmentOut]
