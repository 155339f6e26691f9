"""PLX Spot-check (0x2A5E), Continuous (0x2A5F) and Features (0x2A60), Pulse Oximeter Service
1.0 layouts."""

from __future__ import annotations

from datetime import datetime

import pytest

from edge.gatt import MalformedPacket, PlxContinuous, PlxFeatures, PlxSpotCheck, decode
from edge.gatt.pulse_oximetry import DEVICE_SENSOR_STATUS_BITS, MEASUREMENT_STATUS_BITS
from vigil.quality import QualityFlag

STAMP = "e807 03 0f 0a 1e 00"
WHEN = datetime(2024, 3, 15, 10, 30)
ALL_STATUS = frozenset(MEASUREMENT_STATUS_BITS.values())
ALL_SENSOR = frozenset(DEVICE_SENSOR_STATUS_BITS.values())


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


SPOT = [
    pytest.param("00 6200 4800", PlxSpotCheck(spo2=98.0, pulse_rate=72.0), id="minimal"),
    pytest.param(
        f"01 6200 4800 {STAMP}",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, timestamp=WHEN),
        id="timestamp",
    ),
    pytest.param(
        "02 6200 4800 2000",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, measurement_status={"measurement_ongoing"}),
        id="status",
    ),
    pytest.param(
        "02 6200 4800 1f00",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, measurement_status=frozenset()),
        id="status-reserved-bits-ignored",
    ),
    pytest.param(
        "02 6200 4800 e0ff",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, measurement_status=ALL_STATUS),
        id="status-all",
    ),
    pytest.param(
        "04 6200 4800 ffff00",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, device_sensor_status=ALL_SENSOR),
        id="sensor-all",
    ),
    pytest.param(
        "04 6200 4800 0000ff",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, device_sensor_status=frozenset()),
        id="sensor-reserved-bits-ignored",
    ),
    pytest.param(
        "08 6200 4800 20f0",
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, pulse_amplitude_index=3.2),
        id="pai-only",
    ),
    pytest.param(
        "10 ff07 0008",
        PlxSpotCheck(spo2=None, pulse_rate=None, device_clock_not_set=True),
        id="clock-not-set-nan",
    ),
    pytest.param(
        f"1f 6200 4800 {STAMP} 4000 018000 20f0",
        PlxSpotCheck(
            spo2=98.0,
            pulse_rate=72.0,
            timestamp=WHEN,
            measurement_status={"early_estimate"},
            device_sensor_status={"extended_display_update_ongoing", "sensor_disconnected"},
            pulse_amplitude_index=3.2,
            device_clock_not_set=True,
        ),
        id="everything",
    ),
]


@pytest.mark.parametrize(("packet", "expected"), SPOT)
def test_spot_check(packet: str, expected: PlxSpotCheck) -> None:
    assert decode(0x2A5E, h(packet)) == expected


CONTINUOUS = [
    pytest.param("00 6200 4800", PlxContinuous(spo2=98.0, pulse_rate=72.0), id="minimal"),
    pytest.param(
        "01 6200 4800 6100 4900",
        PlxContinuous(spo2=98.0, pulse_rate=72.0, spo2_fast=97.0, pulse_rate_fast=73.0),
        id="fast",
    ),
    pytest.param(
        "02 6200 4800 6300 4700",
        PlxContinuous(spo2=98.0, pulse_rate=72.0, spo2_slow=99.0, pulse_rate_slow=71.0),
        id="slow",
    ),
    pytest.param(
        "1f 6200 4800 6100 4900 6300 4700 0040 000400 20f0",
        PlxContinuous(
            spo2=98.0,
            pulse_rate=72.0,
            spo2_fast=97.0,
            pulse_rate_fast=73.0,
            spo2_slow=99.0,
            pulse_rate_slow=71.0,
            measurement_status={"questionable"},
            device_sensor_status={"sensor_interference"},
            pulse_amplitude_index=3.2,
        ),
        id="everything",
    ),
]


@pytest.mark.parametrize(("packet", "expected"), CONTINUOUS)
def test_continuous(packet: str, expected: PlxContinuous) -> None:
    value = decode(0x2A5F, h(packet))
    assert value == expected
    assert isinstance(value, PlxContinuous) and value.timestamp is None


FEATURES = [
    pytest.param("0000", PlxFeatures(), id="none"),
    pytest.param(
        "0c00",
        PlxFeatures(measurement_storage_supported=True, timestamp_supported=True),
        id="storage-timestamp",
    ),
    pytest.param(
        "ff00 e0ff ffff00",
        PlxFeatures(
            measurement_status_supported=True,
            device_sensor_status_supported=True,
            measurement_storage_supported=True,
            timestamp_supported=True,
            spo2pr_fast_supported=True,
            spo2pr_slow_supported=True,
            pulse_amplitude_index_supported=True,
            multiple_bonds_supported=True,
            measurement_status_support=ALL_STATUS,
            device_sensor_status_support=ALL_SENSOR,
        ),
        id="everything",
    ),
    pytest.param(
        "0200 000100",
        PlxFeatures(
            device_sensor_status_supported=True, device_sensor_status_support={"questionable_pulse"}
        ),
        id="sensor-support-only",
    ),
]


@pytest.mark.parametrize(("packet", "expected"), FEATURES)
def test_features(packet: str, expected: PlxFeatures) -> None:
    value = decode(0x2A60, h(packet))
    assert value == expected


def test_supported_features_as_a_set() -> None:
    value = decode(0x2A60, h("3000"))
    assert isinstance(value, PlxFeatures)
    assert value.supported_features == {"spo2pr_fast_supported", "spo2pr_slow_supported"}


MALFORMED = [
    (0x2A5E, ""),
    (0x2A5E, "00 6200 48"),
    (0x2A5E, "00 6200 4800 00"),
    (0x2A5E, "01 6200 4800 e807 03 0f 0a 1e"),
    (0x2A5E, "02 6200 4800"),
    (0x2A5E, "04 6200 4800 0180"),
    (0x2A5E, "08 6200 4800"),
    (0x2A5E, "01 6200 4800 e807 03 20 0a 1e 00"),  # 32 March
    (0x2A5F, "01 6200 4800 6100"),
    (0x2A5F, "02 6200 4800"),
    (0x2A5F, "03 6200 4800 6100 4900"),
    (0x2A5F, "00 6200 4800 6100"),
    (0x2A60, "00"),
    (0x2A60, "0100"),
    (0x2A60, "0300 e0ff"),
    (0x2A60, "0000 00"),
]


@pytest.mark.parametrize(("uuid", "packet"), MALFORMED)
def test_malformed(uuid: int, packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(uuid, h(packet))


def test_status_names_are_quality_flags() -> None:
    names = set(MEASUREMENT_STATUS_BITS.values()) | set(DEVICE_SENSOR_STATUS_BITS.values())
    assert names <= {flag.value for flag in QualityFlag}


def test_model_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown"):
        PlxSpotCheck(spo2=98.0, pulse_rate=72.0, measurement_status={"sleepy"})
