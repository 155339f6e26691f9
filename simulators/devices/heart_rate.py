"""Heart-rate chest strap (Heart Rate Service 0x180D).

Notifies Heart Rate Measurement (0x2A37) once a second with the RR intervals of the beats in
that second and sensor contact; Energy Expended every tenth notification (HRS 3.1.1.3 suggests
so), resettable through the Heart Rate Control Point (0x2A39). No clock: the strap has no time.
"""

from __future__ import annotations

from typing import Any

from edge.gatt import HeartRateMeasurement
from edge.gatt.heart_rate import RR_UNITS_PER_SECOND
from simulators.ble.errors import AttError
from simulators.ble.gatt_table import CCCD_NOTIFY
from simulators.ble.peripheral import characteristic
from simulators.devices.base import EmulatedDevice
from vigil.metrics import Metric

HEART_RATE_SERVICE = 0x180D
HEART_RATE_MEASUREMENT = 0x2A37
BODY_SENSOR_LOCATION = 0x2A38
HEART_RATE_CONTROL_POINT = 0x2A39
CHEST = 0x01
RESET_ENERGY_EXPENDED = 0x01
# HRS application error: Control Point value not supported.
CONTROL_POINT_NOT_SUPPORTED = 0x80
ENERGY_EVERY = 10
# Resting energy expenditure, roughly 100 W: kJ per second.
KJ_PER_SECOND = 0.1


class HeartRateStrap(EmulatedDevice):
    kind = "heart_rate_strap"
    service_uuid = HEART_RATE_SERVICE
    model_number = "VHR-1"
    default_name = "Vigil HR"
    has_clock = False

    def __init__(self, address: str, *, interval_s: float = 1.0, **kwargs: Any) -> None:
        self.interval_s = interval_s
        self.energy_kj = 0.0
        self._beat_phase = 0.0
        self._count = 0
        super().__init__(address, **kwargs)

    def _build(self) -> None:
        self.peripheral.add_service(
            HEART_RATE_SERVICE,
            [
                characteristic(HEART_RATE_MEASUREMENT, "notify"),
                characteristic(BODY_SENSOR_LOCATION, "read", value=bytes((CHEST,))),
                characteristic(HEART_RATE_CONTROL_POINT, "write", on_write=self._control_point),
            ],
        )

    def _control_point(self, data: bytes, _response: bool) -> None:
        if data != bytes((RESET_ENERGY_EXPENDED,)):
            raise AttError(CONTROL_POINT_NOT_SUPPORTED, "control point value not supported")
        self.energy_kj = 0.0

    def measurement(self) -> HeartRateMeasurement:
        """One second of heart beats: the rate, and an RR interval per beat completed."""
        rate = max(1, int(self.measured(Metric.HEART_RATE)))
        rr = round(60.0 / rate * RR_UNITS_PER_SECOND) / RR_UNITS_PER_SECOND
        # Rounded so float residue (1.2 * 10 = 11.999...) does not lose a beat.
        self._beat_phase = round(self._beat_phase + rate / 60.0 * self.interval_s, 9)
        beats = int(self._beat_phase)
        self._beat_phase -= beats
        self.energy_kj += KJ_PER_SECOND * self.interval_s
        self._count += 1
        energy = int(self.energy_kj) if self._count % ENERGY_EVERY == 0 else None
        return HeartRateMeasurement(
            heart_rate=rate,
            sensor_contact=True,
            energy_expended=min(energy, 0xFFFF) if energy is not None else None,
            rr_intervals=tuple(rr for _ in range(beats)),
        )

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval_s)
            value = self.measurement()
            if self.peripheral.subscription(HEART_RATE_MEASUREMENT) & CCCD_NOTIFY:
                self.notify(HEART_RATE_MEASUREMENT, value)
