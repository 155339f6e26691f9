"""Date Time (0x2A08), Current Time (0x2A2B) and the 7-byte date-time field embedded in
measurements.

Per the GATT Specification Supplement a zero year, month or day means "not known". A date with
any unknown part has no `timestamp` (None): a reading keyed on a half-known date would be wrong,
so the gateway falls back to its own receipt time. The raw fields stay on DateTime / CurrentTime.
Values outside the ranges the spec allows (year 1..1581 or above 9999, month 13, hour 24, 30
February, ...) are malformed, not "unknown".
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, model_validator

from edge.gatt.errors import MalformedPacket
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader

MIN_YEAR = 1582
MAX_YEAR = 9999


def check_date_time(
    year: int, month: int, day: int, hours: int, minutes: int, seconds: int
) -> datetime | None:
    """Validate the fields and return the timestamp, or None when the date is not known."""
    if year != 0 and not MIN_YEAR <= year <= MAX_YEAR:
        raise MalformedPacket(f"year {year} outside {MIN_YEAR}..{MAX_YEAR} (0 = unknown)")
    if not 0 <= month <= 12:
        raise MalformedPacket(f"month {month} outside 1..12 (0 = unknown)")
    if not 0 <= day <= 31:
        raise MalformedPacket(f"day {day} outside 1..31 (0 = unknown)")
    if month and day:
        # With an unknown year, 29 February is allowed (2000 is a leap year).
        last = calendar.monthrange(year or 2000, month)[1]
        if day > last:
            raise MalformedPacket(f"day {day} does not exist in month {month} of year {year}")
    if not (0 <= hours <= 23 and 0 <= minutes <= 59 and 0 <= seconds <= 59):
        raise MalformedPacket(f"time {hours}:{minutes}:{seconds} out of range")
    if not (year and month and day):
        return None
    return datetime(year, month, day, hours, minutes, seconds)


def read_date_time_fields(reader: PacketReader, what: str) -> tuple[int, ...]:
    year = reader.u16(f"{what} year")
    month, day, hours, minutes, seconds = reader.take(5, what)
    check_date_time(year, month, day, hours, minutes, seconds)
    return (year, month, day, hours, minutes, seconds)


def read_timestamp(reader: PacketReader, what: str = "timestamp") -> datetime | None:
    return check_date_time(*read_date_time_fields(reader, what))


def date_time_bytes(value: datetime) -> bytes:
    """The 7-byte Date Time field of a wall-clock time (sub-second part dropped)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year {value.year} cannot be carried in a Date Time field")
    return value.year.to_bytes(2, "little") + bytes(
        (value.month, value.day, value.hour, value.minute, value.second)
    )


_Byte = Annotated[int, Field(ge=0, le=255)]


class _DateTimeFields(GattValue):
    """The raw fields, zero meaning unknown for year, month and day."""

    year: Annotated[int, Field(ge=0, le=MAX_YEAR)]
    month: _Byte
    day: _Byte
    hours: _Byte
    minutes: _Byte
    seconds: _Byte

    @model_validator(mode="after")
    def _valid(self) -> Self:
        check_date_time(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)
        return self

    @property
    def timestamp(self) -> datetime | None:
        """Naive wall-clock time, or None when the year, month or day is unknown."""
        return check_date_time(
            self.year, self.month, self.day, self.hours, self.minutes, self.seconds
        )


class DateTime(_DateTimeFields):
    """Date Time (0x2A08)."""

    uuid = 0x2A08

    @classmethod
    def of(cls, value: datetime) -> DateTime:
        return cls(
            year=value.year,
            month=value.month,
            day=value.day,
            hours=value.hour,
            minutes=value.minute,
            seconds=value.second,
        )


class CurrentTime(_DateTimeFields):
    """Current Time (0x2A2B): Exact Time 256 (Day Date Time + Fractions256) + Adjust Reason.

    `day_of_week` is 1 = Monday .. 7 = Sunday (as `datetime.isoweekday()`), 0 = unknown; a known
    day that contradicts a fully known date is malformed. `timestamp` has whole seconds; the
    1/256 s part is `fractions256`.
    """

    uuid = 0x2A2B
    day_of_week: Annotated[int, Field(ge=0, le=7)] = 0
    fractions256: _Byte = 0
    manual_time_update: bool = False
    external_reference_time_update: bool = False
    time_zone_change: bool = False
    dst_change: bool = False

    @model_validator(mode="after")
    def _weekday(self) -> CurrentTime:
        stamp = self.timestamp
        if self.day_of_week and stamp is not None and stamp.isoweekday() != self.day_of_week:
            raise MalformedPacket(
                f"day of week {self.day_of_week} contradicts {stamp.date()} "
                f"(a day {stamp.isoweekday()})"
            )
        return self


def decode_date_time(reader: PacketReader) -> DateTime:
    year, month, day, hours, minutes, seconds = read_date_time_fields(reader, "date time")
    reader.finish()
    return DateTime(year=year, month=month, day=day, hours=hours, minutes=minutes, seconds=seconds)


def decode_current_time(reader: PacketReader) -> CurrentTime:
    year, month, day, hours, minutes, seconds = read_date_time_fields(reader, "current time")
    day_of_week = reader.u8("day of week")
    if day_of_week > 7:
        raise MalformedPacket(f"day of week {day_of_week} outside 1..7 (0 = unknown)")
    fractions256 = reader.u8("fractions256")
    reason = reader.u8("adjust reason")
    reader.finish()
    if day_of_week:
        stamp = check_date_time(year, month, day, hours, minutes, seconds)
        if stamp is not None and stamp.isoweekday() != day_of_week:
            raise MalformedPacket(f"day of week {day_of_week} contradicts {stamp.date()}")
    return CurrentTime(
        year=year,
        month=month,
        day=day,
        hours=hours,
        minutes=minutes,
        seconds=seconds,
        day_of_week=day_of_week,
        fractions256=fractions256,
        manual_time_update=bool(reason & 0x01),
        external_reference_time_update=bool(reason & 0x02),
        time_zone_change=bool(reason & 0x04),
        dst_change=bool(reason & 0x08),
    )


def encode_current_time(
    now: datetime,
    *,
    manual_time_update: bool = False,
    external_reference_time_update: bool = False,
    time_zone_change: bool = False,
    dst_change: bool = False,
) -> bytes:
    """The Current Time value the gateway writes to set a device's clock.

    Devices keep local wall-clock time without a zone: pass `now` already in the time the
    device should show (its fields are used as they are, the zone is ignored).
    """
    reason = (
        manual_time_update
        | external_reference_time_update << 1
        | time_zone_change << 2
        | dst_change << 3
    )
    fractions256 = now.microsecond * 256 // 1_000_000
    return date_time_bytes(now) + bytes((now.isoweekday(), fractions256, reason))
