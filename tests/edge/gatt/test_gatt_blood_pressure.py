"""Blood Pressure Measurement (0x2A35) and Intermediate Cuff Pressure (0x2A36), fixtures built
from the BLS 1.1 field layout: flags, systolic, diastolic, MAP, [timestamp], [pulse rate],
[user id], [measurement status]."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.gatt import (
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    MalformedPacket,
    decode,
)

STAMP = "e807 03 0f 0a 1e 00"  # 2024-03-15 10:30:00
WHEN = datetime(2024, 3, 15, 10, 30)
CLEAR = dict.fromkeys(
    (
        "body_movement",
        "cuff_too_loose",
        "irregular_pulse",
        "pulse_rate_above_upper_limit",
        "pulse_rate_below_lower_limit",
        "improper_position",
    ),
    False,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def bp(**fields: object) -> BloodPressureMeasurement:
    base: dict[str, object] = {"systolic": 120.0, "diastolic": 80.0, "mean_arterial_pressure": 93.0}
    return BloodPressureMeasurement.model_validate(base | fields)


VALID = [
    pytest.param("00 7800 5000 5d00", bp(), id="minimal-mmHg"),
    pytest.param(
        "01 a0f0 6bf0 7df0",
        bp(systolic=16.0, diastolic=10.7, mean_arterial_pressure=12.5, unit="kPa"),
        id="minimal-kPa",
    ),
    pytest.param(f"02 7800 5000 5d00 {STAMP}", bp(timestamp=WHEN), id="timestamp"),
    pytest.param("02 7800 5000 5d00 0000 00 00 0a 1e 00", bp(), id="timestamp-unknown-date"),
    pytest.param("04 7800 5000 5d00 4800", bp(pulse_rate=72.0), id="pulse-rate"),
    pytest.param("04 7800 5000 5d00 ff07", bp(), id="pulse-rate-nan"),
    pytest.param("08 7800 5000 5d00 ff", bp(user_id=255), id="unknown-user"),
    pytest.param("10 7800 5000 5d00 0000", bp(**CLEAR), id="status-clear"),
    pytest.param("10 7800 5000 5d00 0100", bp(**CLEAR | {"body_movement": True}), id="body"),
    pytest.param("10 7800 5000 5d00 0200", bp(**CLEAR | {"cuff_too_loose": True}), id="cuff"),
    pytest.param("10 7800 5000 5d00 0400", bp(**CLEAR | {"irregular_pulse": True}), id="irreg"),
    pytest.param(
        "10 7800 5000 5d00 0800",
        bp(**CLEAR | {"pulse_rate_above_upper_limit": True}),
        id="pulse-above",
    ),
    pytest.param(
        "10 7800 5000 5d00 1000",
        bp(**CLEAR | {"pulse_rate_below_lower_limit": True}),
        id="pulse-below",
    ),
    pytest.param(
        "10 7800 5000 5d00 2000", bp(**CLEAR | {"improper_position": True}), id="position"
    ),
    pytest.param("10 7800 5000 5d00 c0ff", bp(**CLEAR), id="status-reserved-bits-ignored"),
    pytest.param("e0 7800 5000 5d00", bp(), id="reserved-flag-bits-ignored"),
    pytest.param(
        f"1f a0f0 6bf0 7df0 {STAMP} 4800 01 2500",
        bp(
            systolic=16.0,
            diastolic=10.7,
            mean_arterial_pressure=12.5,
            unit="kPa",
            timestamp=WHEN,
            pulse_rate=72.0,
            user_id=1,
            **CLEAR | {"body_movement": True, "irregular_pulse": True, "improper_position": True},
        ),
        id="everything-kPa",
    ),
    pytest.param(
        "00 ff07 0008 0108",
        bp(systolic=None, diastolic=None, mean_arterial_pressure=None),
        id="nan-nres-reserved",
    ),
    pytest.param(
        "00 fe07 0208 5d00",
        bp(systolic=float("inf"), diastolic=float("-inf")),
        id="infinities",
    ),
]


@pytest.mark.parametrize(("packet", "expected"), VALID)
def test_decodes(packet: str, expected: BloodPressureMeasurement) -> None:
    assert decode(0x2A35, h(packet)) == expected


def test_status_absent_is_none_not_false() -> None:
    value = decode(0x2A35, h("00 7800 5000 5d00"))
    assert isinstance(value, BloodPressureMeasurement)
    assert value.body_movement is None and value.improper_position is None
    assert not value.has_status
    assert value.status_flags == frozenset()


def test_intermediate_cuff_pressure_has_the_same_layout() -> None:
    value = decode(0x2A36, h("14 9600 ff07 ff07 4800 0100"))
    assert value == IntermediateCuffPressure(
        systolic=150.0,
        diastolic=None,
        mean_arterial_pressure=None,
        pulse_rate=72.0,
        **CLEAR | {"body_movement": True},
    )


MALFORMED = [
    pytest.param("", id="empty"),
    pytest.param("00 7800 5000", id="no-map"),
    pytest.param("00 7800 5000 5d", id="half-map"),
    pytest.param("00 7800 5000 5d00 00", id="trailing-byte"),
    pytest.param("02 7800 5000 5d00 e807 03 0f 0a 1e", id="truncated-timestamp"),
    pytest.param("04 7800 5000 5d00", id="pulse-flag-without-pulse"),
    pytest.param("08 7800 5000 5d00", id="user-flag-without-user"),
    pytest.param("10 7800 5000 5d00 00", id="truncated-status"),
    pytest.param("10 7800 5000 5d00 1800", id="pulse-range-3-reserved"),
    pytest.param("02 7800 5000 5d00 e807 0d 0f 0a 1e 00", id="month-13"),
    pytest.param("02 7800 5000 5d00 e807 02 1e 0a 1e 00", id="30-february"),
    pytest.param("02 7800 5000 5d00 e807 03 0f 18 1e 00", id="hour-24"),
]


@pytest.mark.parametrize("packet", MALFORMED)
@pytest.mark.parametrize("uuid", [0x2A35, 0x2A36])
def test_malformed(uuid: int, packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(uuid, h(packet))


def test_model_refuses_both_pulse_limits() -> None:
    with pytest.raises(ValueError, match="both"):
        bp(pulse_rate_above_upper_limit=True, pulse_rate_below_lower_limit=True)


def test_one_status_bit_fills_the_others() -> None:
    value = bp(cuff_too_loose=True)
    assert value.has_status
    assert value.body_movement is False
    assert value.status_flags == {"cuff_too_loose"}
