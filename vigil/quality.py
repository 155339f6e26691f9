"""Quality flags a reading carries: the device's own status bits, and the gateway's notes.

The device flags come straight from the Bluetooth SIG measurement status fields (Blood Pressure
Measurement Status, PLX Measurement Status and Device and Sensor Status). Alert rules treat the
QUESTIONABLE set as "do not page on this reading alone".
"""

from __future__ import annotations

from enum import StrEnum


class QualityFlag(StrEnum):
    # Blood pressure measurement status (0x2A35)
    BODY_MOVEMENT = "body_movement"
    CUFF_TOO_LOOSE = "cuff_too_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_RATE_ABOVE_UPPER_LIMIT = "pulse_rate_above_upper_limit"
    PULSE_RATE_BELOW_LOWER_LIMIT = "pulse_rate_below_lower_limit"
    IMPROPER_POSITION = "improper_position"
    # PLX measurement status (0x2A5E / 0x2A5F)
    MEASUREMENT_ONGOING = "measurement_ongoing"
    EARLY_ESTIMATE = "early_estimate"
    VALIDATED = "validated"
    FULLY_QUALIFIED = "fully_qualified"
    FROM_MEASUREMENT_STORAGE = "from_measurement_storage"
    DEMONSTRATION_DATA = "demonstration_data"
    TESTING_DATA = "testing_data"
    CALIBRATION_ONGOING = "calibration_ongoing"
    MEASUREMENT_UNAVAILABLE = "measurement_unavailable"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"
    # PLX device and sensor status
    EXTENDED_DISPLAY_UPDATE_ONGOING = "extended_display_update_ongoing"
    EQUIPMENT_MALFUNCTION = "equipment_malfunction"
    SIGNAL_PROCESSING_IRREGULARITY = "signal_processing_irregularity"
    SIGNAL_INADEQUATE = "signal_inadequate"
    POOR_SIGNAL = "poor_signal"
    LOW_PERFUSION = "low_perfusion"
    ERRATIC_SIGNAL = "erratic_signal"
    NON_PULSATILE_SIGNAL = "non_pulsatile_signal"
    QUESTIONABLE_PULSE = "questionable_pulse"
    SIGNAL_ANALYSIS_ONGOING = "signal_analysis_ongoing"
    SENSOR_INTERFERENCE = "sensor_interference"
    SENSOR_UNCONNECTED = "sensor_unconnected"
    UNKNOWN_SENSOR_CONNECTED = "unknown_sensor_connected"
    SENSOR_DISPLACED = "sensor_displaced"
    SENSOR_MALFUNCTIONING = "sensor_malfunctioning"
    SENSOR_DISCONNECTED = "sensor_disconnected"
    # Glucose sensor status annunciation (0x2A18)
    DEVICE_BATTERY_LOW = "device_battery_low"
    SENSOR_MALFUNCTION = "sensor_malfunction"
    SAMPLE_SIZE_INSUFFICIENT = "sample_size_insufficient"
    STRIP_INSERTION_ERROR = "strip_insertion_error"
    STRIP_TYPE_INCORRECT = "strip_type_incorrect"
    RESULT_ABOVE_RANGE = "result_above_range"
    RESULT_BELOW_RANGE = "result_below_range"
    TEMPERATURE_TOO_HIGH = "temperature_too_high"
    TEMPERATURE_TOO_LOW = "temperature_too_low"
    STRIP_PULLED_TOO_SOON = "strip_pulled_too_soon"
    GENERAL_DEVICE_FAULT = "general_device_fault"
    TIME_FAULT = "time_fault"
    # Heart rate measurement (0x2A37)
    NO_SENSOR_CONTACT = "no_sensor_contact"
    # Gateway notes
    CLOCK_CORRECTED = "clock_corrected"
    CLOCK_UNRELIABLE = "clock_unreliable"


# A reading carrying any of these must not raise a threshold alert on its own; it is stored
# and shown, marked as questionable.
QUESTIONABLE: frozenset[QualityFlag] = frozenset(
    {
        QualityFlag.BODY_MOVEMENT,
        QualityFlag.CUFF_TOO_LOOSE,
        QualityFlag.IMPROPER_POSITION,
        QualityFlag.MEASUREMENT_ONGOING,
        QualityFlag.EARLY_ESTIMATE,
        QualityFlag.CALIBRATION_ONGOING,
        QualityFlag.MEASUREMENT_UNAVAILABLE,
        QualityFlag.DEMONSTRATION_DATA,
        QualityFlag.TESTING_DATA,
        QualityFlag.QUESTIONABLE,
        QualityFlag.INVALID,
        QualityFlag.EQUIPMENT_MALFUNCTION,
        QualityFlag.SIGNAL_PROCESSING_IRREGULARITY,
        QualityFlag.SIGNAL_INADEQUATE,
        QualityFlag.POOR_SIGNAL,
        QualityFlag.LOW_PERFUSION,
        QualityFlag.ERRATIC_SIGNAL,
        QualityFlag.NON_PULSATILE_SIGNAL,
        QualityFlag.QUESTIONABLE_PULSE,
        QualityFlag.SENSOR_INTERFERENCE,
        QualityFlag.SENSOR_UNCONNECTED,
        QualityFlag.UNKNOWN_SENSOR_CONNECTED,
        QualityFlag.SENSOR_DISPLACED,
        QualityFlag.SENSOR_MALFUNCTIONING,
        QualityFlag.SENSOR_DISCONNECTED,
        QualityFlag.SENSOR_MALFUNCTION,
        QualityFlag.SAMPLE_SIZE_INSUFFICIENT,
        QualityFlag.STRIP_INSERTION_ERROR,
        QualityFlag.STRIP_TYPE_INCORRECT,
        QualityFlag.TEMPERATURE_TOO_HIGH,
        QualityFlag.TEMPERATURE_TOO_LOW,
        QualityFlag.STRIP_PULLED_TOO_SOON,
        QualityFlag.GENERAL_DEVICE_FAULT,
        QualityFlag.NO_SENSOR_CONTACT,
    }
)


def is_questionable(flags: frozenset[QualityFlag] | set[QualityFlag] | list[QualityFlag]) -> bool:
    return any(flag in QUESTIONABLE for flag in flags)
