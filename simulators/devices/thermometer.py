"""Health thermometer (Health Thermometer Service 0x1809).

A store-and-forward device: measures (a few seconds, Intermediate Temperature 0x2A1E notified
while it settles if a client is subscribed), stores the result with its clock, advertises, and
indicates stored Temperature Measurements (0x2A1C) on connection, then disconnects. The site
is static, so it is in Temperature Type (0x2A1D) and not in each measurement (HTS 3.1.1.4).
"""

from __future__ import annotations

from edge.gatt import GattValue, IntermediateTemperature, TemperatureMeasurement
from edge.gatt.temperature import TEMPERATURE_TYPES, TemperatureType
from simulators.ble.peripheral import characteristic
from simulators.devices.measuring import StoreAndForwardDevice
from vigil.metrics import Metric

HEALTH_THERMOMETER_SERVICE = 0x1809
TEMPERATURE_MEASUREMENT = 0x2A1C
TEMPERATURE_TYPE = 0x2A1D
INTERMEDIATE_TEMPERATURE = 0x2A1E
_TYPE_CODES = {name: code for code, name in TEMPERATURE_TYPES.items()}


class Thermometer(StoreAndForwardDevice):
    kind = "thermometer"
    service_uuid = HEALTH_THERMOMETER_SERVICE
    model_number = "VTH-30"
    default_name = "Vigil Thermo"
    measurement_uuid = TEMPERATURE_MEASUREMENT
    measurement_duration_s = 8.0
    site: TemperatureType = "tympanum"

    def _build(self) -> None:
        self.peripheral.add_service(
            HEALTH_THERMOMETER_SERVICE,
            [
                characteristic(TEMPERATURE_MEASUREMENT, "indicate"),
                characteristic(TEMPERATURE_TYPE, "read", value=bytes((_TYPE_CODES[self.site],))),
                characteristic(INTERMEDIATE_TEMPERATURE, "notify"),
            ],
        )

    def record(self, sequence: int) -> GattValue:
        return TemperatureMeasurement(
            temperature=self.sample(Metric.BODY_TEMPERATURE, 1),
            unit="C",
            timestamp=self.device_clock.now(),
        )

    async def progress(self, second: int) -> None:
        if not self.peripheral.subscription(INTERMEDIATE_TEMPERATURE):
            return
        # The probe warms towards the body temperature: an exponential approach, as shown.
        final = self.sample(Metric.BODY_TEMPERATURE, 1)
        shown = final - (final - 30.0) * 0.5 ** (second + 1)
        self.notify(INTERMEDIATE_TEMPERATURE, IntermediateTemperature(temperature=round(shown, 1)))
