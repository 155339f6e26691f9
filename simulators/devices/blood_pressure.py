"""Blood pressure cuff (Blood Pressure Service 0x1810).

Measures on a schedule or on demand (about 30 s of inflation and deflation, with Intermediate
Cuff Pressure 0x2A36 notified each second when a client happens to be connected and subscribed),
stores the result stamped with its own clock, advertises, and on connection indicates its stored
measurements (0x2A35), then disconnects by itself.
"""

from __future__ import annotations

from edge.gatt import BloodPressureMeasurement, GattValue, IntermediateCuffPressure
from simulators.ble.peripheral import characteristic
from simulators.devices.measuring import StoreAndForwardDevice
from vigil.metrics import Metric

BLOOD_PRESSURE_SERVICE = 0x1810
BLOOD_PRESSURE_MEASUREMENT = 0x2A35
INTERMEDIATE_CUFF_PRESSURE = 0x2A36
BLOOD_PRESSURE_FEATURE = 0x2A49
# Feature bits: body movement, cuff fit, irregular pulse, pulse rate range, position detection.
FEATURES = 0x001F
# Peak cuff pressure above systolic before deflation starts (mmHg).
OVERSHOOT = 30.0


class BloodPressureCuff(StoreAndForwardDevice):
    kind = "bp_cuff"
    service_uuid = BLOOD_PRESSURE_SERVICE
    model_number = "VBP-200"
    default_name = "Vigil BP"
    measurement_uuid = BLOOD_PRESSURE_MEASUREMENT
    measurement_duration_s = 30.0
    user_id = 1

    def _build(self) -> None:
        self.peripheral.add_service(
            BLOOD_PRESSURE_SERVICE,
            [
                characteristic(BLOOD_PRESSURE_MEASUREMENT, "indicate"),
                characteristic(INTERMEDIATE_CUFF_PRESSURE, "notify"),
                characteristic(
                    BLOOD_PRESSURE_FEATURE, "read", value=FEATURES.to_bytes(2, "little")
                ),
            ],
        )

    def record(self, sequence: int) -> GattValue:
        return BloodPressureMeasurement(
            systolic=self.sample(Metric.SYSTOLIC_BP),
            diastolic=self.sample(Metric.DIASTOLIC_BP),
            mean_arterial_pressure=self.sample(Metric.MEAN_ARTERIAL_PRESSURE),
            timestamp=self.device_clock.now(),
            pulse_rate=self.sample(Metric.PULSE_RATE),
            user_id=self.user_id,
            body_movement=False,
        )

    async def progress(self, second: int) -> None:
        if not self.peripheral.subscription(INTERMEDIATE_CUFF_PRESSURE):
            return
        # Inflate over the first third, then deflate linearly: a plausible pressure curve.
        peak = self.sample(Metric.SYSTOLIC_BP) + OVERSHOOT
        third = max(1.0, self.duration_s / 3)
        if second < third:
            pressure = peak * (second + 1) / third
        else:
            pressure = peak * (1 - (second - third) / (self.duration_s - third + 1))
        self.notify(
            INTERMEDIATE_CUFF_PRESSURE,
            IntermediateCuffPressure(
                systolic=round(pressure), diastolic=None, mean_arterial_pressure=None
            ),
        )
