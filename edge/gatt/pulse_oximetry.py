"""Pulse Oximeter Service 1.0: PLX Spot-check Measurement (0x2A5E), PLX Continuous Measurement
(0x2A5F) and PLX Features (0x2A60).

SpO2 (%) and pulse rate (/min) are SFLOATs. Measurement Status (16 bits) and Device and Sensor
Status (24 bits) decode to sets of names, which are the values of `vigil.quality.QualityFlag`;
reserved bits (status 0-4, sensor status 16-23) are ignored. None means the field was absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import model_validator

from edge.gatt.date_time import read_timestamp
from edge.gatt.ieee11073 import read_sfloat
from edge.gatt.model import GattValue, bit_names, check_names
from edge.gatt.reader import PacketReader

MEASUREMENT_STATUS_BITS: dict[int, str] = {
    5: "measurement_ongoing",
    6: "early_estimate",
    7: "validated",
    8: "fully_qualified",
    9: "from_measurement_storage",
    10: "demonstration_data",
    11: "testing_data",
    12: "calibration_ongoing",
    13: "measurement_unavailable",
    14: "questionable",
    15: "invalid",
}
DEVICE_SENSOR_STATUS_BITS: dict[int, str] = {
    0: "extended_display_update_ongoing",
    1: "equipment_malfunction",
    2: "signal_processing_irregularity",
    3: "signal_inadequate",
    4: "poor_signal",
    5: "low_perfusion",
    6: "erratic_signal",
    7: "non_pulsatile_signal",
    8: "questionable_pulse",
    9: "signal_analysis_ongoing",
    10: "sensor_interference",
    11: "sensor_unconnected",
    12: "unknown_sensor_connected",
    13: "sensor_displaced",
    14: "sensor_malfunctioning",
    15: "sensor_disconnected",
}

SPOT_FLAG_TIMESTAMP = 0x01
SPOT_FLAG_STATUS = 0x02
SPOT_FLAG_SENSOR_STATUS = 0x04
SPOT_FLAG_PAI = 0x08
SPOT_FLAG_CLOCK_NOT_SET = 0x10

CONT_FLAG_FAST = 0x01
CONT_FLAG_SLOW = 0x02
CONT_FLAG_STATUS = 0x04
CONT_FLAG_SENSOR_STATUS = 0x08
CONT_FLAG_PAI = 0x10

FEATURE_BITS: dict[int, str] = {
    0: "measurement_status_supported",
    1: "device_sensor_status_supported",
    2: "measurement_storage_supported",
    3: "timestamp_supported",
    4: "spo2pr_fast_supported",
    5: "spo2pr_slow_supported",
    6: "pulse_amplitude_index_supported",
    7: "multiple_bonds_supported",
}


class _PlxStatus(GattValue):
    measurement_status: frozenset[str] | None = None
    device_sensor_status: frozenset[str] | None = None
    pulse_amplitude_index: float | None = None

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        check_names(self.measurement_status, MEASUREMENT_STATUS_BITS, "measurement status")
        check_names(self.device_sensor_status, DEVICE_SENSOR_STATUS_BITS, "device/sensor status")
        return self

    @property
    def status_flags(self) -> frozenset[str]:
        return (self.measurement_status or frozenset()) | (self.device_sensor_status or frozenset())


class PlxSpotCheck(_PlxStatus):
    uuid = 0x2A5E
    spo2: float | None
    pulse_rate: float | None
    timestamp: datetime | None = None
    # Flag bit 4: the device has a clock but it is not set, so its timestamp is not wall time.
    device_clock_not_set: bool = False


class PlxContinuous(_PlxStatus):
    uuid = 0x2A5F
    spo2: float | None
    pulse_rate: float | None
    spo2_fast: float | None = None
    pulse_rate_fast: float | None = None
    spo2_slow: float | None = None
    pulse_rate_slow: float | None = None
    # The continuous measurement carries no time; the attribute exists for a uniform interface.
    timestamp: None = None


class PlxFeatures(GattValue):
    uuid = 0x2A60
    measurement_status_supported: bool = False
    device_sensor_status_supported: bool = False
    measurement_storage_supported: bool = False
    timestamp_supported: bool = False
    spo2pr_fast_supported: bool = False
    spo2pr_slow_supported: bool = False
    pulse_amplitude_index_supported: bool = False
    multiple_bonds_supported: bool = False
    # Which status bits the device can report; present exactly when the matching flag is set.
    measurement_status_support: frozenset[str] | None = None
    device_sensor_status_support: frozenset[str] | None = None

    @model_validator(mode="after")
    def _supports_match_flags(self) -> Self:
        if (self.measurement_status_support is None) == self.measurement_status_supported:
            raise ValueError("measurement_status_support is present iff its feature bit is set")
        if (self.device_sensor_status_support is None) == self.device_sensor_status_supported:
            raise ValueError("device_sensor_status_support is present iff its feature bit is set")
        check_names(self.measurement_status_support, MEASUREMENT_STATUS_BITS, "measurement status")
        check_names(
            self.device_sensor_status_support, DEVICE_SENSOR_STATUS_BITS, "device/sensor status"
        )
        return self

    @property
    def supported_features(self) -> frozenset[str]:
        return frozenset(name for name in FEATURE_BITS.values() if getattr(self, name))


def _read_statuses(
    reader: PacketReader, status: bool, sensor: bool, pai: bool
) -> dict[str, object]:
    fields: dict[str, object] = {}
    if status:
        fields["measurement_status"] = bit_names(
            reader.u16("measurement status"), MEASUREMENT_STATUS_BITS
        )
    if sensor:
        fields["device_sensor_status"] = bit_names(
            reader.u24("device and sensor status"), DEVICE_SENSOR_STATUS_BITS
        )
    if pai:
        fields["pulse_amplitude_index"] = read_sfloat(reader, "pulse amplitude index")
    return fields


def decode_plx_spot_check(reader: PacketReader) -> PlxSpotCheck:
    flags = reader.u8("flags")
    spo2 = read_sfloat(reader, "SpO2")
    pulse_rate = read_sfloat(reader, "pulse rate")
    timestamp = read_timestamp(reader) if flags & SPOT_FLAG_TIMESTAMP else None
    fields = _read_statuses(
        reader,
        bool(flags & SPOT_FLAG_STATUS),
        bool(flags & SPOT_FLAG_SENSOR_STATUS),
        bool(flags & SPOT_FLAG_PAI),
    )
    reader.finish()
    return PlxSpotCheck.model_validate(
        {
            "spo2": spo2,
            "pulse_rate": pulse_rate,
            "timestamp": timestamp,
            "device_clock_not_set": bool(flags & SPOT_FLAG_CLOCK_NOT_SET),
            **fields,
        }
    )


def decode_plx_continuous(reader: PacketReader) -> PlxContinuous:
    flags = reader.u8("flags")
    values: dict[str, object] = {
        "spo2": read_sfloat(reader, "SpO2"),
        "pulse_rate": read_sfloat(reader, "pulse rate"),
    }
    if flags & CONT_FLAG_FAST:
        values["spo2_fast"] = read_sfloat(reader, "SpO2 fast")
        values["pulse_rate_fast"] = read_sfloat(reader, "pulse rate fast")
    if flags & CONT_FLAG_SLOW:
        values["spo2_slow"] = read_sfloat(reader, "SpO2 slow")
        values["pulse_rate_slow"] = read_sfloat(reader, "pulse rate slow")
    values |= _read_statuses(
        reader,
        bool(flags & CONT_FLAG_STATUS),
        bool(flags & CONT_FLAG_SENSOR_STATUS),
        bool(flags & CONT_FLAG_PAI),
    )
    reader.finish()
    return PlxContinuous.model_validate(values)


def decode_plx_features(reader: PacketReader) -> PlxFeatures:
    bits = reader.u16("supported features")
    fields: dict[str, object] = {name: bool(bits >> bit & 1) for bit, name in FEATURE_BITS.items()}
    if bits & 0x01:
        fields["measurement_status_support"] = bit_names(
            reader.u16("measurement status support"), MEASUREMENT_STATUS_BITS
        )
    if bits & 0x02:
        fields["device_sensor_status_support"] = bit_names(
            reader.u24("device and sensor status support"), DEVICE_SENSOR_STATUS_BITS
        )
    reader.finish()
    return PlxFeatures.model_validate(fields)
