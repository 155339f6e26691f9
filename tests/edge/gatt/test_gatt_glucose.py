"""Glucose Measurement (0x2A18), Glucose Service 1.0 layout: flags, sequence number, base time,
[time offset], [concentration + type/location], [sensor status annunciation]."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.gatt import GlucoseMeasurement, MalformedPacket, decode
from edge.gatt.glucose import SAMPLE_LOCATIONS, SAMPLE_TYPES, SENSOR_STATUS_BITS
from vigil.quality import QualityFlag

STAMP = "e807 03 0f 0a 1e 00"
WHEN = datetime(2024, 3, 15, 10, 30)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def glucose(**fields: object) -> GlucoseMeasurement:
    return GlucoseMeasurement.model_validate({"sequence_number": 1, "base_time": WHEN} | fields)


CAPILLARY_FINGER = {"sample_type": "capillary_whole_blood", "sample_location": "finger"}

VALID = [
    pytest.param(f"00 0100 {STAMP}", glucose(), id="minimal"),
    pytest.param(f"01 0100 {STAMP} e2ff", glucose(time_offset=-30), id="offset"),
    pytest.param(
        f"02 0100 {STAMP} 5ab0 11",
        glucose(concentration=0.0009, unit="kg/L", **CAPILLARY_FINGER),
        id="kg-per-L",
    ),
    pytest.param(
        f"06 0100 {STAMP} 37c0 22",
        glucose(
            concentration=0.0055,
            unit="mol/L",
            sample_type="capillary_plasma",
            sample_location="alternate_site_test",
        ),
        id="mol-per-L",
    ),
    pytest.param(f"04 0100 {STAMP}", glucose(), id="unit-bit-alone-is-ignored"),
    pytest.param(
        f"02 0100 {STAMP} ff07 f9",
        glucose(
            concentration=None,
            unit="kg/L",
            sample_type="interstitial_fluid",
            sample_location="not_available",
        ),
        id="nan-location-not-available",
    ),
    pytest.param(
        f"08 ffff {STAMP} 030c",
        glucose(
            sequence_number=0xFFFF,
            sensor_status={
                "device_battery_low",
                "sensor_malfunction",
                "time_fault",
                "general_device_fault",
            },
        ),
        id="sensor-status",
    ),
    pytest.param(f"08 0100 {STAMP} 00f0", glucose(sensor_status=frozenset()), id="status-rfu"),
    pytest.param(f"10 0100 {STAMP}", glucose(context_information_follows=True), id="context"),
    pytest.param("00 0100 0000 00 00 0a 1e 00", glucose(base_time=None), id="unknown-date"),
    pytest.param(
        f"1b 2a00 {STAMP} 1e00 5ab0 4a ffff",
        glucose(
            sequence_number=42,
            time_offset=30,
            concentration=0.0009,
            unit="kg/L",
            sample_type="control_solution",
            sample_location="control_solution",
            sensor_status=frozenset(SENSOR_STATUS_BITS.values()),
            context_information_follows=True,
        ),
        id="everything",
    ),
]


@pytest.mark.parametrize(("packet", "expected"), VALID)
def test_decodes(packet: str, expected: GlucoseMeasurement) -> None:
    assert decode(0x2A18, h(packet)) == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("e2ff", datetime(2024, 3, 15, 10, 0)),
        ("1e00", datetime(2024, 3, 15, 11, 0)),
        ("0080", datetime(2024, 2, 21, 16, 22)),  # -32768 min = -(22 d 18 h 8 min)
        ("ff7f", datetime(2024, 4, 7, 4, 37)),  # +32767 min = 22 d 18 h 7 min
    ],
)
def test_timestamp_is_base_time_plus_offset(offset: str, expected: datetime) -> None:
    value = decode(0x2A18, h(f"01 0100 {STAMP} {offset}"))
    assert isinstance(value, GlucoseMeasurement)
    assert value.base_time == WHEN
    assert value.timestamp == expected


def test_no_offset_means_base_time() -> None:
    value = decode(0x2A18, h(f"00 0100 {STAMP}"))
    assert isinstance(value, GlucoseMeasurement) and value.timestamp == WHEN


def test_unknown_base_time_has_no_timestamp_even_with_offset() -> None:
    value = decode(0x2A18, h("01 0100 0000 00 00 00 00 00 e2ff"))
    assert isinstance(value, GlucoseMeasurement) and value.timestamp is None


@pytest.mark.parametrize(("code", "name"), sorted(SAMPLE_TYPES.items()))
def test_every_sample_type(code: int, name: str) -> None:
    value = decode(0x2A18, h(f"02 0100 {STAMP} 5ab0") + bytes((0x10 | code,)))
    assert isinstance(value, GlucoseMeasurement) and value.sample_type == name


@pytest.mark.parametrize(("code", "name"), sorted(SAMPLE_LOCATIONS.items()))
def test_every_sample_location(code: int, name: str) -> None:
    value = decode(0x2A18, h(f"02 0100 {STAMP} 5ab0") + bytes((code << 4 | 1,)))
    assert isinstance(value, GlucoseMeasurement) and value.sample_location == name


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "00 0100",
        "00 0100 e807 03 0f 0a 1e",
        f"00 0100 {STAMP} 00",
        f"01 0100 {STAMP}",
        f"01 0100 {STAMP} e2",
        f"02 0100 {STAMP} 5ab0",
        f"08 0100 {STAMP} 03",
        f"02 0100 {STAMP} 5ab0 10",  # sample type 0 reserved
        f"02 0100 {STAMP} 5ab0 1b",  # sample type 11 reserved
        f"02 0100 {STAMP} 5ab0 01",  # location 0 reserved
        f"02 0100 {STAMP} 5ab0 51",  # location 5 reserved
        "00 0100 e807 02 1e 0a 1e 00",  # 30 February
        "00 0100 2d06 03 0f 0a 1e 00",  # year 1581
        "01 0100 0f27 0c 1f 17 3b 00 ff7f",  # 9999-12-31 + offset leaves the calendar
    ],
)
def test_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A18, h(packet))


def test_sensor_status_names_are_quality_flags() -> None:
    assert set(SENSOR_STATUS_BITS.values()) <= {flag.value for flag in QualityFlag}
