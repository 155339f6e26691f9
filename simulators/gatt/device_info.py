"""Encoders of the device-state characteristics: Battery Level, Date Time, Current Time."""

from __future__ import annotations

from edge.gatt.battery import BatteryLevel
from edge.gatt.date_time import CurrentTime, DateTime
from simulators.gatt.writer import PacketWriter


def encode_battery_level(value: BatteryLevel) -> bytes:
    return bytes((value.battery_level,))


def _date_time_fields(out: PacketWriter, value: DateTime | CurrentTime) -> PacketWriter:
    # The raw fields, so partly unknown dates (zeros) survive the round trip.
    out.u16(value.year)
    return out.raw(bytes((value.month, value.day, value.hours, value.minutes, value.seconds)))


def encode_date_time(value: DateTime) -> bytes:
    return _date_time_fields(PacketWriter(), value).build()


def encode_current_time(value: CurrentTime) -> bytes:
    reason = (
        value.manual_time_update
        | value.external_reference_time_update << 1
        | value.time_zone_change << 2
        | value.dst_change << 3
    )
    out = _date_time_fields(PacketWriter(), value)
    return out.u8(value.day_of_week).u8(value.fractions256).u8(reason).build()
