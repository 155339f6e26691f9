"""Date Time (0x2A08), Current Time (0x2A2B), the Current Time encoder, Battery Level (0x2A19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge.gatt import BatteryLevel, CurrentTime, DateTime, MalformedPacket, decode
from edge.gatt import encode_current_time as gateway_current_time

STAMP = "e807 03 0f 0a 1e 00"  # Friday 2024-03-15 10:30:00


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("packet", "fields", "timestamp"),
    [
        (STAMP, (2024, 3, 15, 10, 30, 0), datetime(2024, 3, 15, 10, 30)),
        ("2e06 01 01 00 00 00", (1582, 1, 1, 0, 0, 0), datetime(1582, 1, 1)),
        ("0f27 0c 1f 17 3b 3b", (9999, 12, 31, 23, 59, 59), datetime(9999, 12, 31, 23, 59, 59)),
        ("e807 02 1d 00 00 00", (2024, 2, 29, 0, 0, 0), datetime(2024, 2, 29)),
        ("0000 00 00 00 00 00", (0, 0, 0, 0, 0, 0), None),
        ("e807 00 0f 0a 1e 00", (2024, 0, 15, 10, 30, 0), None),  # month unknown
        ("e807 03 00 0a 1e 00", (2024, 3, 0, 10, 30, 0), None),  # day unknown
        ("0000 02 1d 0a 1e 00", (0, 2, 29, 10, 30, 0), None),  # year unknown, 29 Feb allowed
    ],
)
def test_date_time(packet: str, fields: tuple[int, ...], timestamp: datetime | None) -> None:
    value = decode(0x2A08, h(packet))
    assert isinstance(value, DateTime)
    names = ("year", "month", "day", "hours", "minutes", "seconds")
    assert tuple(getattr(value, name) for name in names) == fields
    assert value.timestamp == timestamp


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "e807 03 0f 0a 1e",
        f"{STAMP} 00",
        "2d06 01 01 00 00 00",  # year 1581
        "0100 01 01 00 00 00",  # year 1
        "1027 01 01 00 00 00",  # year 10000
        "e807 0d 0f 0a 1e 00",  # month 13
        "e807 03 20 0a 1e 00",  # day 32
        "e707 02 1d 00 00 00",  # 29 February 2023
        "e807 04 1f 00 00 00",  # 31 April
        "0000 02 1e 00 00 00",  # 30 February, year unknown
        "e807 03 0f 18 00 00",  # hour 24
        "e807 03 0f 0a 3c 00",  # minute 60
        "e807 03 0f 0a 1e 3c",  # second 60
    ],
)
def test_date_time_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A08, h(packet))


def test_current_time() -> None:
    value = decode(0x2A2B, h(f"{STAMP} 05 80 0b"))
    assert value == CurrentTime(
        year=2024,
        month=3,
        day=15,
        hours=10,
        minutes=30,
        seconds=0,
        day_of_week=5,
        fractions256=128,
        manual_time_update=True,
        external_reference_time_update=True,
        dst_change=True,
    )
    assert isinstance(value, CurrentTime)
    assert value.timestamp == datetime(2024, 3, 15, 10, 30)


@pytest.mark.parametrize(
    ("packet", "day_of_week"),
    [
        (f"{STAMP} 00 00 00", 0),  # day of week unknown
        ("0000 00 00 0a 1e 00 03 00 f0", 3),  # date unknown: any day; adjust RFU bits ignored
    ],
)
def test_current_time_unknowns(packet: str, day_of_week: int) -> None:
    value = decode(0x2A2B, h(packet))
    assert isinstance(value, CurrentTime)
    assert value.day_of_week == day_of_week
    assert not value.manual_time_update


@pytest.mark.parametrize(
    "packet",
    [
        f"{STAMP} 05 80",
        f"{STAMP} 05 80 00 00",
        f"{STAMP} 01 00 00",  # Monday, but 15 March 2024 is a Friday
        f"{STAMP} 08 00 00",  # day of week 8 reserved
        "e807 0d 0f 0a 1e 00 05 00 00",
    ],
)
def test_current_time_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A2B, h(packet))


def test_gateway_current_time_encoder() -> None:
    now = datetime(2024, 3, 15, 10, 30, 0, 500_000)
    assert gateway_current_time(now) == h(f"{STAMP} 05 80 00")
    assert gateway_current_time(now, manual_time_update=True, time_zone_change=True) == h(
        f"{STAMP} 05 80 05"
    )
    assert gateway_current_time(now, external_reference_time_update=True, dst_change=True) == h(
        f"{STAMP} 05 80 0a"
    )


def test_gateway_current_time_uses_wall_clock_fields() -> None:
    local = datetime(2024, 3, 15, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert gateway_current_time(local) == gateway_current_time(local.replace(tzinfo=None))
    assert gateway_current_time(local) != gateway_current_time(local.astimezone(UTC))


def test_gateway_current_time_decodes_back() -> None:
    now = datetime(2023, 12, 31, 23, 59, 59, 999_999)
    value = decode(0x2A2B, gateway_current_time(now, manual_time_update=True))
    assert isinstance(value, CurrentTime)
    assert value.timestamp == now.replace(microsecond=0)
    assert value.day_of_week == 7
    assert value.fractions256 == 255
    assert value.manual_time_update


@pytest.mark.parametrize(("packet", "level"), [("00", 0), ("64", 100), ("37", 55)])
def test_battery(packet: str, level: int) -> None:
    assert decode(0x2A19, h(packet)) == BatteryLevel(battery_level=level)


@pytest.mark.parametrize("packet", ["", "65", "ff", "6400"])
def test_battery_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A19, h(packet))
