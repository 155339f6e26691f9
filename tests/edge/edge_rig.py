"""A gateway under test: emulated devices, their config, the subscriber playing ingest."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_harness import Devices, Expected, IngestDouble, wait_until, write_config

from devstack.mosquitto import MosquittoBroker
from simulators.devices import (
    BloodPressureCuff,
    EmulatedDevice,
    FaultProfile,
    GlucoseMeter,
    HeartRateStrap,
    PulseOximeter,
    Thermometer,
    WeightScale,
)
from simulators.devices.values import ValueSource
from vigil.messages import Reading
from vigil.metrics import Metric

LOCAL = "simulators.ble.local"
REMOTE = "simulators.ble.remote"
PROFILE_OF = {"pulse_oximeter": "pulse_oximeter", "bp_cuff": "blood_pressure",
              "thermometer": "thermometer", "weight_scale": "weight_scale",
              "glucose_meter": "glucose_meter", "heart_rate_strap": "heart_rate"}
ALL_KINDS = ("oximeter", "bp", "thermometer", "scale", "glucose", "hr")


def varying() -> ValueSource:
    """A value source that never repeats within a run, so a stream's order is checkable."""
    counter = itertools.count()

    def value(metric: Metric, _t: datetime) -> float:
        n = next(counter)
        return {Metric.SPO2: 85 + n % 15, Metric.PULSE_RATE: 50 + n % 120,
                Metric.HEART_RATE: 50 + n % 120, Metric.SYSTOLIC_BP: 100 + n % 80,
                Metric.DIASTOLIC_BP: 60 + n % 30, Metric.MEAN_ARTERIAL_PRESSURE: 80 + n % 20,
                Metric.BODY_TEMPERATURE: 36 + (n % 20) / 10, Metric.BODY_WEIGHT: 70 + n % 20,
                Metric.BLOOD_GLUCOSE: 4 + (n % 40) / 10}.get(metric, 14.0)

    return value


def kit(faults: FaultProfile | None = None, seed: int = 1, *, stream_s: float = 0.1,
        kinds: tuple[str, ...] = ALL_KINDS) -> list[EmulatedDevice]:
    """Spot devices measuring every second or two (no inflation time), streams at `stream_s`."""
    # Every packet stays in the device's log: the oracle compares the whole run.
    common: dict[str, Any] = {"values": varying(), "seed": seed, "sent_log": 1_000_000}
    if faults is not None:
        common["faults"] = faults
    spot = {"measurement_duration_s": 0.0, **common}
    make: dict[str, Callable[[], EmulatedDevice]] = {
        "oximeter": lambda: PulseOximeter("C0:01:00:00:00:01", continuous_interval_s=stream_s,
                                          every_s=1.1, **common),
        "bp": lambda: BloodPressureCuff("C0:01:00:00:00:02", every_s=1.3, **spot),
        "thermometer": lambda: Thermometer("C0:01:00:00:00:03", every_s=1.7,
                                           **spot),
        "scale": lambda: WeightScale("C0:01:00:00:00:04", every_s=1.9,
                                     **spot),
        "glucose": lambda: GlucoseMeter("C0:01:00:00:00:05", every_s=1.5,
                                        **spot),
        "hr": lambda: HeartRateStrap("C0:01:00:00:00:06", **common),
    }
    return [make[k]() for k in kinds]


class Rig:
    def __init__(self, tmp: Path, broker: MosquittoBroker, gateway_id: str,
                 devices: list[EmulatedDevice], *, backend: str = LOCAL, extra: str = "",
                 room_port: int = 0, serve_now: bool = True) -> None:
        self.tmp = tmp
        self.gateway_id = gateway_id
        self.devices = Devices(devices, serve=backend == REMOTE, port=room_port,
                               serve_now=serve_now)
        options = f'room = "{self.devices.address}"' if backend == REMOTE else ""
        self.config = write_config(
            tmp / "gateway.toml", gateway_id=gateway_id, port=broker.port, backend=backend,
            devices=[(d.address, PROFILE_OF[d.kind]) for d in devices], extra=extra,
            backend_options=options)
        self.ingest = IngestDouble(broker.port, gateway_id)

    def received(self) -> dict[str, Reading]:
        return self.ingest.snapshot()[0]

    def wait_for_readings(self, n: int) -> None:
        wait_until(lambda: len(self.received()) >= n, f"{n} readings at the subscriber")

    def settle(self, depth: Callable[[], int], whole_streams: bool = True) -> None:
        """Stop the devices measuring, let them hand over what they hold, wait for what they
        sent to reach the subscriber and for the agent's outbox to drain."""
        self.devices.stop_measuring()
        wait_until(lambda: self.devices.pending() == 0, "devices to hand over stored records")
        expected = self.devices.expected()
        wait_until(lambda: set(expected.stamped) <= set(self.received())
                   and (not whole_streams
                        or _stream_length(self.received()) >= _expected_length(expected)),
                   "every sent reading at the subscriber")
        wait_until(lambda: depth() == 0, "the outbox to drain (everything acknowledged)")

    def close(self) -> None:
        self.ingest.close()
        self.devices.close()


def _stream_length(received: dict[str, Reading]) -> int:
    return sum(1 for r in received.values() if r.device_time is None)


def _expected_length(expected: Expected) -> int:
    return sum(len(values) for stream in expected.streams.values() for values in stream)
