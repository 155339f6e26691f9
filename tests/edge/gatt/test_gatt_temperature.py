"""Temperature Measurement (0x2A1C) and Intermediate Temperature (0x2A1E), Health Thermometer
Service 1.0 layout (value is a 32-bit FLOAT)."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.gatt import IntermediateTemperature, MalformedPacket, TemperatureMeasurement, decode
from edge.gatt.temperature import TEMPERATURE_TYPES

STAMP = "e807 03 0f 0a 1e 00"
WHEN = datetime(2024, 3, 15, 10, 30)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


VALID = [
    ("00 6d0100ff", TemperatureMeasurement(temperature=36.5)),
    ("01 d10300ff", TemperatureMeasurement(temperature=97.7, unit="F")),
    (f"02 6d0100ff {STAMP}", TemperatureMeasurement(temperature=36.5, timestamp=WHEN)),
    ("04 6d0100ff 06", TemperatureMeasurement(temperature=36.5, temperature_type="mouth")),
    (
        f"07 d10300ff {STAMP} 09",
        TemperatureMeasurement(
            temperature=97.7, unit="F", timestamp=WHEN, temperature_type="tympanum"
        ),
    ),
    ("00 ffff7f00", TemperatureMeasurement(temperature=None)),
    ("00 00008000", TemperatureMeasurement(temperature=None)),
    ("00 01008000", TemperatureMeasurement(temperature=None)),
    ("00 feff7f00", TemperatureMeasurement(temperature=float("inf"))),
    ("00 02008000", TemperatureMeasurement(temperature=float("-inf"))),
    ("f8 6d0100ff", TemperatureMeasurement(temperature=36.5)),  # reserved flag bits
]


@pytest.mark.parametrize(("packet", "expected"), VALID)
def test_decodes(packet: str, expected: TemperatureMeasurement) -> None:
    assert decode(0x2A1C, h(packet)) == expected


@pytest.mark.parametrize(("code", "name"), sorted(TEMPERATURE_TYPES.items()))
def test_every_temperature_type(code: int, name: str) -> None:
    value = decode(0x2A1C, h("04 6d0100ff") + bytes((code,)))
    assert isinstance(value, TemperatureMeasurement)
    assert value.temperature_type == name


def test_type_names() -> None:
    assert list(TEMPERATURE_TYPES.values()) == [
        "armpit",
        "body",
        "ear",
        "finger",
        "gastrointestinal",
        "mouth",
        "rectum",
        "toe",
        "tympanum",
    ]


def test_intermediate() -> None:
    assert decode(0x2A1E, h("05 6d0100ff 01")) == IntermediateTemperature(
        temperature=36.5, unit="F", temperature_type="armpit"
    )


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "00",
        "00 6d0100",
        "00 6d0100ff 00",
        "02 6d0100ff e807 03 0f 0a 1e",
        "04 6d0100ff",
        "04 6d0100ff 00",  # type 0 reserved
        "04 6d0100ff 0a",  # type 10 reserved
        "02 6d0100ff e807 03 0f 0a 3c 00",  # minute 60
    ],
)
@pytest.mark.parametrize("uuid", [0x2A1C, 0x2A1E])
def test_malformed(uuid: int, packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(uuid, h(packet))
