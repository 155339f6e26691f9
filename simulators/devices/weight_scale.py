"""Weight scale (Weight Scale Service 0x181D).

A store-and-forward device: the patient steps on, the scale stores the weight (quantised to its
resolution, with BMI when it knows the user's height) stamped with its clock, advertises, and
indicates stored Weight Measurements (0x2A9D) on connection, then disconnects.
"""

from __future__ import annotations

from typing import Any

from edge.gatt import GattValue, WeightMeasurement, WeightScaleFeature
from edge.gatt.weight import WEIGHT_RESOLUTIONS
from simulators.ble.peripheral import characteristic
from simulators.devices.measuring import StoreAndForwardDevice
from simulators.gatt import encode
from vigil.metrics import Metric

WEIGHT_SCALE_SERVICE = 0x181D
WEIGHT_MEASUREMENT = 0x2A9D
WEIGHT_SCALE_FEATURE = 0x2A9E
# Resolution code 4: 0.05 kg, typical of a home scale.
RESOLUTION_CODE = 4
HEIGHT_RESOLUTION_CODE = 3  # 0.001 m


class WeightScale(StoreAndForwardDevice):
    kind = "weight_scale"
    service_uuid = WEIGHT_SCALE_SERVICE
    model_number = "VWS-150"
    default_name = "Vigil Scale"
    measurement_uuid = WEIGHT_MEASUREMENT
    measurement_duration_s = 3.0
    user_id = 1

    def __init__(self, address: str, *, height_m: float | None = 1.75, **kwargs: Any) -> None:
        self.height_m = height_m
        super().__init__(address, **kwargs)

    def _build(self) -> None:
        feature = WeightScaleFeature(
            timestamp_supported=True,
            multiple_users_supported=True,
            bmi_supported=self.height_m is not None,
            weight_resolution_code=RESOLUTION_CODE,
            height_resolution_code=HEIGHT_RESOLUTION_CODE if self.height_m is not None else 0,
        )
        self.peripheral.add_service(
            WEIGHT_SCALE_SERVICE,
            [
                characteristic(WEIGHT_MEASUREMENT, "indicate"),
                characteristic(WEIGHT_SCALE_FEATURE, "read", value=encode(feature)),
            ],
        )

    def record(self, sequence: int) -> GattValue:
        step = WEIGHT_RESOLUTIONS[RESOLUTION_CODE][0]
        weight = round(round(self.sample(Metric.BODY_WEIGHT, 3) / step) * step, 3)
        bmi = height = None
        if self.height_m is not None:
            height = round(self.height_m, 3)
            bmi = round(weight / height**2, 1)
        return WeightMeasurement(
            weight=weight,
            unit="kg",
            timestamp=self.device_clock.now(),
            user_id=self.user_id,
            bmi=bmi,
            height=height,
        )
