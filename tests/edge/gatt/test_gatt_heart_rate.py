"""Heart Rate Measurement (0x2A37), Heart Rate Service 1.0 layout."""

from __future__ import annotations

import pytest

from edge.gatt import HeartRateMeasurement, MalformedPacket, decode


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


VALID = [
    ("00 48", HeartRateMeasurement(heart_rate=72)),
    ("01 2c01", HeartRateMeasurement(heart_rate=300)),
    ("02 48", HeartRateMeasurement(heart_rate=72)),  # contact bit without support: unsupported
    ("04 48", HeartRateMeasurement(heart_rate=72, sensor_contact=False)),
    ("06 48", HeartRateMeasurement(heart_rate=72, sensor_contact=True)),
    ("08 48 e803", HeartRateMeasurement(heart_rate=72, energy_expended=1000)),
    ("10 48 0004 0002", HeartRateMeasurement(heart_rate=72, rr_intervals=(1.0, 0.5))),
    ("10 48 3303", HeartRateMeasurement(heart_rate=72, rr_intervals=(819 / 1024,))),
    (
        "1f 4800 ffff 0004 ffff",
        HeartRateMeasurement(
            heart_rate=72,
            sensor_contact=True,
            energy_expended=0xFFFF,
            rr_intervals=(1.0, 0xFFFF / 1024),
        ),
    ),
    ("e0 48", HeartRateMeasurement(heart_rate=72)),  # reserved flag bits ignored
]


@pytest.mark.parametrize(("packet", "expected"), VALID)
def test_decodes(packet: str, expected: HeartRateMeasurement) -> None:
    assert decode(0x2A37, h(packet)) == expected


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "00",
        "01 48",
        "08 48 e8",
        "10 48",  # RR flag, no interval
        "10 48 00",  # odd byte
        "10 48 0004 00",
        "00 48 00",  # trailing without the RR flag
        "00 48 0004",
    ],
)
def test_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A37, h(packet))
