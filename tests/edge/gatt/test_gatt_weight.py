"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E), Weight Scale Service 1.0."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.gatt import MalformedPacket, WeightMeasurement, WeightScaleFeature, decode

STAMP = "e807 03 0f 0a 1e 00"
WHEN = datetime(2024, 3, 15, 10, 30)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


VALID = [
    ("00 b036", WeightMeasurement(weight=70.0)),  # 14000 x 0.005 kg
    ("00 0100", WeightMeasurement(weight=0.005)),
    ("01 5c36", WeightMeasurement(weight=139.16, unit="lb")),  # 13916 x 0.01 lb
    ("00 ffff", WeightMeasurement(weight=None)),  # measurement unsuccessful
    ("01 feff", WeightMeasurement(weight=655.34, unit="lb")),
    (f"02 b036 {STAMP}", WeightMeasurement(weight=70.0, timestamp=WHEN)),
    ("04 b036 ff", WeightMeasurement(weight=70.0, user_id=255)),
    (
        f"0e b036 {STAMP} 01 f500 da06",
        WeightMeasurement(weight=70.0, timestamp=WHEN, user_id=1, bmi=24.5, height=1.754),
    ),
    ("09 5c36 f500 be02", WeightMeasurement(weight=139.16, unit="lb", bmi=24.5, height=70.2)),
    ("f0 b036", WeightMeasurement(weight=70.0)),
]


@pytest.mark.parametrize(("packet", "expected"), VALID)
def test_decodes(packet: str, expected: WeightMeasurement) -> None:
    assert decode(0x2A9D, h(packet)) == expected


def test_height_unit_follows_the_unit_flag() -> None:
    assert WeightMeasurement(weight=1.0).height_unit == "m"
    assert WeightMeasurement(weight=1.0, unit="lb").height_unit == "in"


@pytest.mark.parametrize(
    "packet",
    ["", "00", "00 b0", "00 b036 00", "02 b036", "04 b036", "08 b036 f500", "08 b036 f500 da"],
)
def test_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A9D, h(packet))


def test_feature_everything() -> None:
    # bits 0-2 set, weight resolution 7 (0.005 kg), height resolution 3 (0.001 m)
    value = decode(0x2A9E, h("bf010000"))
    assert value == WeightScaleFeature(
        timestamp_supported=True,
        multiple_users_supported=True,
        bmi_supported=True,
        weight_resolution_code=7,
        height_resolution_code=3,
    )
    assert isinstance(value, WeightScaleFeature)
    assert value.weight_resolution_kg == 0.005
    assert value.weight_resolution_lb == 0.01
    assert value.height_resolution_m == 0.001
    assert value.height_resolution_in == 0.1


def test_feature_unspecified_resolutions() -> None:
    value = decode(0x2A9E, h("02000000"))
    assert isinstance(value, WeightScaleFeature)
    assert value.multiple_users_supported
    assert value.weight_resolution_kg is None and value.height_resolution_in is None


@pytest.mark.parametrize(
    "packet",
    ["", "bf0100", "bf01000000", "40000000", "00020000"],  # short, long, weight 8, height 4
)
def test_feature_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A9E, h(packet))


def test_feature_reserved_bits_ignored() -> None:
    assert decode(0x2A9E, h("0004ffff")) == WeightScaleFeature()
