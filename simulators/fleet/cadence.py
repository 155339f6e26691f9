"""How often each kind of device measures under each load mix, in simulated seconds.

Virtual ward: a continuous pulse oximeter streams SpO2 and pulse once a second; the other
devices are spot checks a few times a day. Caseload (long-term conditions at home): everything
is a deliberate spot reading, once or twice a day. Spot readings wander +-10 % around their
period, as people do; streams tick exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.fleet.config import Mix
from simulators.physiology.scenario import DEVICE_METRICS, DeviceKind

DAY = 86400.0
# Streams faster than this have no device clock or record number: the gateway stamps them.
CONTINUOUS_BELOW_S = 5.0
SPOT_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Cadence:
    period_s: float

    @property
    def continuous(self) -> bool:
        return self.period_s < CONTINUOUS_BELOW_S


MIX_CADENCE: dict[Mix, dict[DeviceKind, Cadence]] = {
    Mix.VIRTUAL_WARD: {
        DeviceKind.PULSE_OXIMETER: Cadence(1.0),
        DeviceKind.HEART_RATE: Cadence(1.0),
        DeviceKind.BLOOD_PRESSURE: Cadence(DAY / 6),
        DeviceKind.THERMOMETER: Cadence(DAY / 6),
        DeviceKind.WEIGHT_SCALE: Cadence(DAY),
        DeviceKind.GLUCOSE_METER: Cadence(DAY / 4),
    },
    Mix.CASELOAD: {
        DeviceKind.PULSE_OXIMETER: Cadence(DAY / 2),
        DeviceKind.HEART_RATE: Cadence(DAY / 2),
        DeviceKind.BLOOD_PRESSURE: Cadence(DAY / 2),
        DeviceKind.THERMOMETER: Cadence(DAY),
        DeviceKind.WEIGHT_SCALE: Cadence(DAY),
        DeviceKind.GLUCOSE_METER: Cadence(DAY / 3),
    },
}

# Without --rate or --speed: a virtual ward runs in real time, a caseload a day per minute.
DEFAULT_SPEED: dict[Mix, float] = {Mix.VIRTUAL_WARD: 1.0, Mix.CASELOAD: DAY / 60.0}

# The generated patients' devices, in the order the -devices-per-gateway count takes them.
KIT_ORDER: tuple[DeviceKind, ...] = (
    DeviceKind.PULSE_OXIMETER,
    DeviceKind.BLOOD_PRESSURE,
    DeviceKind.THERMOMETER,
    DeviceKind.WEIGHT_SCALE,
    DeviceKind.GLUCOSE_METER,
    DeviceKind.HEART_RATE,
)


def readings_per_second(kind: DeviceKind, cadence: Cadence) -> float:
    """Readings one device produces per simulated second."""
    return len(DEVICE_METRICS[kind]) / cadence.period_s
