"""GATT-level emulators of the BLE health devices Vigil reads.

Each device owns a `simulators.ble.Peripheral` (put it in a `Room`), runs on a `Clock`, takes
its values from a `ValueSource` and misbehaves as its `FaultProfile` says, by seed.
"""

from simulators.devices.base import EmulatedDevice, SentPacket
from simulators.devices.blood_pressure import BloodPressureCuff
from simulators.devices.clock import AcceleratedClock, Clock, DeviceClock, ManualClock, RealClock
from simulators.devices.faults import NO_FAULTS, FaultProfile
from simulators.devices.glucose import GlucoseMeter
from simulators.devices.heart_rate import HeartRateStrap
from simulators.devices.oximeter import PulseOximeter
from simulators.devices.thermometer import Thermometer
from simulators.devices.values import ValueSource, scripted, steady
from simulators.devices.weight_scale import WeightScale

DEVICE_KINDS: dict[str, type[EmulatedDevice]] = {
    cls.kind: cls
    for cls in (
        PulseOximeter,
        BloodPressureCuff,
        Thermometer,
        WeightScale,
        GlucoseMeter,
        HeartRateStrap,
    )
}

__all__ = [
    "DEVICE_KINDS",
    "NO_FAULTS",
    "AcceleratedClock",
    "BloodPressureCuff",
    "Clock",
    "DeviceClock",
    "EmulatedDevice",
    "FaultProfile",
    "GlucoseMeter",
    "HeartRateStrap",
    "ManualClock",
    "PulseOximeter",
    "RealClock",
    "SentPacket",
    "Thermometer",
    "ValueSource",
    "WeightScale",
    "scripted",
    "steady",
]
