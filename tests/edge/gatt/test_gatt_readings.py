"""Decoded measurements -> contract readings: units, quality flags, ids and what is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.gatt import (
    BloodPressureMeasurement,
    GlucoseMeasurement,
    HeartRateMeasurement,
    IntermediateCuffPressure,
    IntermediateTemperature,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    convert,
    decode,
    to_readings,
)
from vigil.messages import Origin, Reading, reading_id
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag

RECEIVED = datetime(2024, 3, 15, 9, 31, 5, tzinfo=UTC)
DEVICE_TIME = datetime(2024, 3, 15, 10, 30)  # the device's local wall clock
DEVICE = "aa:bb:cc:dd:ee:ff"


def readings(measurement: object, **kwargs: object) -> dict[Metric, Reading]:
    result = to_readings(measurement, device_id=DEVICE, received_at=RECEIVED, **kwargs)  # type: ignore[arg-type]
    by_metric = {reading.metric: reading for reading in result}
    assert len(by_metric) == len(result)
    for reading in result:
        assert reading.unit == CATALOGUE[reading.metric].ucum
        assert reading.id == reading.expected_id()
    return by_metric


def test_blood_pressure_mmhg() -> None:
    value = BloodPressureMeasurement(
        systolic=120.0,
        diastolic=80.0,
        mean_arterial_pressure=93.0,
        timestamp=DEVICE_TIME,
        pulse_rate=72.0,
    )
    got = readings(value)
    assert {m: r.value for m, r in got.items()} == {
        Metric.SYSTOLIC_BP: 120.0,
        Metric.DIASTOLIC_BP: 80.0,
        Metric.MEAN_ARTERIAL_PRESSURE: 93.0,
        Metric.PULSE_RATE: 72.0,
    }
    reading = got[Metric.SYSTOLIC_BP]
    assert reading.unit == "mm[Hg]"
    assert reading.device_time == DEVICE_TIME
    assert reading.measured_at == RECEIVED  # default: the receipt time
    assert reading.received_at == RECEIVED
    assert reading.quality == ()
    assert reading.origin is Origin.LIVE


def test_blood_pressure_kpa_is_converted() -> None:
    value = decode(0x2A35, bytes.fromhex("01 a0f0 6bf0 7df0".replace(" ", "")))
    got = readings(value)
    assert got[Metric.SYSTOLIC_BP].value == pytest.approx(16.0 * 7.50062)
    assert got[Metric.DIASTOLIC_BP].value == pytest.approx(10.7 * 7.50062)
    assert got[Metric.MEAN_ARTERIAL_PRESSURE].value == pytest.approx(12.5 * 7.50062)
    assert Metric.PULSE_RATE not in got


def test_blood_pressure_status_becomes_quality_flags() -> None:
    value = BloodPressureMeasurement(
        systolic=120.0,
        diastolic=80.0,
        mean_arterial_pressure=93.0,
        pulse_rate=130.0,
        body_movement=True,
        cuff_too_loose=True,
        irregular_pulse=True,
        pulse_rate_above_upper_limit=True,
        improper_position=True,
    )
    expected = (
        QualityFlag.BODY_MOVEMENT,
        QualityFlag.CUFF_TOO_LOOSE,
        QualityFlag.IMPROPER_POSITION,
        QualityFlag.IRREGULAR_PULSE,
        QualityFlag.PULSE_RATE_ABOVE_UPPER_LIMIT,
    )
    for reading in readings(value).values():
        assert set(reading.quality) == set(expected)
    below = value.model_copy(
        update={"pulse_rate_above_upper_limit": False, "pulse_rate_below_lower_limit": True}
    )
    for reading in readings(below).values():
        assert QualityFlag.PULSE_RATE_BELOW_LOWER_LIMIT in reading.quality


def test_nan_and_infinite_values_are_skipped_not_dropped_silently() -> None:
    value = decode(0x2A35, bytes.fromhex("04 fe07 0008 5d00 0208".replace(" ", "")))
    assert isinstance(value, BloodPressureMeasurement)
    result = convert(value, device_id=DEVICE, received_at=RECEIVED)
    assert [r.metric for r in result.readings] == [Metric.MEAN_ARTERIAL_PRESSURE]
    skipped = {s.metric: s.reason for s in result.skipped}
    assert set(skipped) == {Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.PULSE_RATE}
    assert "inf" in skipped[Metric.SYSTOLIC_BP]
    assert "NaN" in skipped[Metric.DIASTOLIC_BP]


@pytest.mark.parametrize(
    "value",
    [
        IntermediateCuffPressure(systolic=150.0, diastolic=None, mean_arterial_pressure=None),
        IntermediateTemperature(temperature=36.0),
    ],
)
def test_intermediate_values_produce_no_readings(value: object) -> None:
    result = convert(value, device_id=DEVICE, received_at=RECEIVED)  # type: ignore[arg-type]
    assert result.readings == ()
    assert len(result.skipped) == 1 and "intermediate" in result.skipped[0].reason


def test_plx_spot_check_flags() -> None:
    value = PlxSpotCheck(
        spo2=91.0,
        pulse_rate=88.0,
        timestamp=DEVICE_TIME,
        measurement_status={"early_estimate", "from_measurement_storage"},
        device_sensor_status={"low_perfusion", "sensor_displaced"},
        pulse_amplitude_index=1.5,
    )
    got = readings(value, origin=Origin.STORED)
    assert {m: r.value for m, r in got.items()} == {Metric.SPO2: 91.0, Metric.PULSE_RATE: 88.0}
    for reading in got.values():
        assert reading.quality == tuple(
            sorted(
                {
                    QualityFlag.EARLY_ESTIMATE,
                    QualityFlag.FROM_MEASUREMENT_STORAGE,
                    QualityFlag.LOW_PERFUSION,
                    QualityFlag.SENSOR_DISPLACED,
                }
            )
        )
        assert reading.device_time == DEVICE_TIME
        assert reading.origin is Origin.STORED


def test_plx_every_status_name_maps_to_a_quality_flag() -> None:
    from edge.gatt.pulse_oximetry import DEVICE_SENSOR_STATUS_BITS, MEASUREMENT_STATUS_BITS

    value = PlxContinuous(
        spo2=97.0,
        pulse_rate=60.0,
        measurement_status=frozenset(MEASUREMENT_STATUS_BITS.values()),
        device_sensor_status=frozenset(DEVICE_SENSOR_STATUS_BITS.values()),
    )
    reading = readings(value)[Metric.SPO2]
    assert len(reading.quality) == len(MEASUREMENT_STATUS_BITS) + len(DEVICE_SENSOR_STATUS_BITS)
    assert reading.device_time is None


def test_plx_unset_clock_is_not_a_key() -> None:
    value = PlxSpotCheck(
        spo2=97.0, pulse_rate=60.0, timestamp=datetime(2000, 1, 1), device_clock_not_set=True
    )
    reading = readings(value)[Metric.SPO2]
    assert reading.device_time is None
    assert QualityFlag.CLOCK_UNRELIABLE in reading.quality


@pytest.mark.parametrize(
    ("contact", "flags"),
    [(None, ()), (True, ()), (False, (QualityFlag.NO_SENSOR_CONTACT,))],
)
def test_heart_rate(contact: bool | None, flags: tuple[QualityFlag, ...]) -> None:
    value = HeartRateMeasurement(heart_rate=64, sensor_contact=contact, rr_intervals=(0.9,))
    got = readings(value)
    assert list(got) == [Metric.HEART_RATE]
    assert got[Metric.HEART_RATE].value == 64.0
    assert got[Metric.HEART_RATE].quality == flags
    assert got[Metric.HEART_RATE].device_time is None


@pytest.mark.parametrize(
    ("temperature", "unit", "celsius"),
    [(36.5, "C", 36.5), (98.6, "F", 37.0), (32.0, "F", 0.0), (104.0, "F", 40.0)],
)
def test_temperature(temperature: float, unit: str, celsius: float) -> None:
    value = TemperatureMeasurement(temperature=temperature, unit=unit, temperature_type="ear")
    reading = readings(value)[Metric.BODY_TEMPERATURE]
    assert reading.value == pytest.approx(celsius)
    assert reading.unit == "Cel"


def test_weight_kg_and_bmi() -> None:
    value = WeightMeasurement(weight=70.0, bmi=24.5, height=1.754, timestamp=DEVICE_TIME)
    got = readings(value)
    assert got[Metric.BODY_WEIGHT].value == 70.0
    assert got[Metric.BMI].value == 24.5
    assert got[Metric.BMI].unit == "kg/m2"


def test_weight_lb() -> None:
    got = readings(WeightMeasurement(weight=154.32, unit="lb"))
    assert got[Metric.BODY_WEIGHT].value == pytest.approx(154.32 * 0.45359237)
    assert Metric.BMI not in got


def test_unsuccessful_weighing_is_skipped() -> None:
    value = WeightMeasurement(weight=None, bmi=22.0, height=1.8)
    result = convert(value, device_id=DEVICE, received_at=RECEIVED)
    assert [r.metric for r in result.readings] == [Metric.BMI]
    assert [s.metric for s in result.skipped] == [Metric.BODY_WEIGHT]


def glucose(**fields: object) -> GlucoseMeasurement:
    base: dict[str, object] = {
        "sequence_number": 17,
        "base_time": DEVICE_TIME,
        "time_offset": -30,
        "concentration": 0.0009,
        "unit": "kg/L",
        "sample_type": "capillary_whole_blood",
        "sample_location": "finger",
    }
    return GlucoseMeasurement.model_validate(base | fields)


def test_glucose_kg_per_litre() -> None:
    reading = readings(glucose())[Metric.BLOOD_GLUCOSE]
    # 0.0009 kg/L = 90 mg/dL = 90 / 18.016 mmol/L
    assert reading.value == pytest.approx(90 / 18.016)
    assert reading.unit == "mmol/L"
    assert reading.device_time == DEVICE_TIME - timedelta(minutes=30)
    assert reading.sequence == 17  # the record's own sequence number


def test_glucose_mol_per_litre() -> None:
    reading = readings(glucose(concentration=0.0055, unit="mol/L"))[Metric.BLOOD_GLUCOSE]
    assert reading.value == pytest.approx(5.5)


def test_glucose_sensor_status_and_explicit_sequence() -> None:
    value = glucose(sensor_status={"device_battery_low", "result_above_range"})
    reading = readings(value, sequence=99)[Metric.BLOOD_GLUCOSE]
    assert reading.quality == (QualityFlag.DEVICE_BATTERY_LOW, QualityFlag.RESULT_ABOVE_RANGE)
    assert reading.sequence == 99


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sample_type": "control_solution"}, "control solution"),
        ({"sample_location": "control_solution"}, "control solution"),
        (
            {"concentration": None, "unit": None, "sample_type": None, "sample_location": None},
            "no concentration",
        ),
        ({"concentration": None}, "NaN"),
    ],
)
def test_glucose_skips(fields: dict[str, object], reason: str) -> None:
    result = convert(glucose(**fields), device_id=DEVICE, received_at=RECEIVED)
    assert result.readings == ()
    assert [s.metric for s in result.skipped] == [Metric.BLOOD_GLUCOSE]
    assert reason in result.skipped[0].reason


def test_ids_are_stable_across_receipts_and_device_id_spelling() -> None:
    value = BloodPressureMeasurement(
        systolic=120.0, diastolic=80.0, mean_arterial_pressure=93.0, timestamp=DEVICE_TIME
    )
    first = to_readings(value, device_id=DEVICE, received_at=RECEIVED)
    again = to_readings(
        value,
        device_id=DEVICE.upper(),
        received_at=RECEIVED + timedelta(hours=3),
        measured_at=RECEIVED - timedelta(minutes=1),
    )
    assert [r.id for r in first] == [r.id for r in again]
    assert first[0].id == reading_id(DEVICE, Metric.SYSTOLIC_BP, DEVICE_TIME, None)
    assert len({r.id for r in first}) == len(first)
    assert again[0].measured_at == RECEIVED - timedelta(minutes=1)


def test_without_device_time_the_id_keys_on_measured_at() -> None:
    value = HeartRateMeasurement(heart_rate=70)
    one = to_readings(value, device_id=DEVICE, received_at=RECEIVED)
    other = to_readings(value, device_id=DEVICE, received_at=RECEIVED + timedelta(seconds=1))
    assert one[0].id != other[0].id
    assert one[0].id == reading_id(DEVICE, Metric.HEART_RATE, RECEIVED, None)


def test_measured_at_is_normalised_to_utc() -> None:
    from datetime import timezone

    local = RECEIVED.astimezone(timezone(timedelta(hours=2)))
    reading = to_readings(HeartRateMeasurement(heart_rate=70), device_id=DEVICE, received_at=local)
    assert reading[0].measured_at.utcoffset() == timedelta(0)
    assert reading[0].measured_at == RECEIVED
