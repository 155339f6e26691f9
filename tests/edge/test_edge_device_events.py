"""Device events end to end: a wrong device clock (skew reported, clock set, stamps corrected),
a device that goes silent, battery levels, and the heartbeat's device states."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from edge_harness import InProcessAgent, check_every_reading_arrived, wait_until
from edge_rig import Rig, varying

from devstack.mosquitto import MosquittoBroker
from simulators.devices import BloodPressureCuff, FaultProfile, HeartRateStrap
from vigil.messages import DeviceEvent, DeviceEventKind, DeviceState, GatewayStatus
from vigil.quality import QualityFlag

CUFF, STRAP = "C0:03:00:00:00:02", "C0:03:00:00:00:06"
SLOW_S = 2 * 3600.0


def test_a_slow_device_clock_is_reported_set_and_corrected(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """The cuff's clock runs two hours slow and it holds measurements stamped by it. Oracle:
    every reading arrives; its measured_at is within seconds of when it was really taken (not
    two hours off); readings mapped through the corrected offset carry CLOCK_CORRECTED; one
    CLOCK_SKEW and one CLOCK_SET event; later measurements need no correction."""
    cuff = BloodPressureCuff(CUFF, every_s=1.2, measurement_duration_s=0.0, values=varying(),
                             faults=FaultProfile(clock_offset_s=-SLOW_S))
    rig = rig_factory(mqtt_broker, [cuff], extra='[clock]\ntimezone = "UTC"')
    wait_until(lambda: rig.devices.call_store_size(cuff) >= 2, "stored measurements")
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        wait_until(lambda: rig.ingest.events_of(DeviceEventKind.CLOCK_SET), "the clock set")
        wait_until(lambda: any(r.device_time is not None
                               and QualityFlag.CLOCK_CORRECTED not in r.quality
                               for r in rig.received().values()), "a reading after the set")
        rig.settle(agent.outbox_depth)
        received = rig.received()
        check_every_reading_arrived(rig.devices.expected(), received)
        corrected = [r for r in received.values() if QualityFlag.CLOCK_CORRECTED in r.quality]
        plain = [r for r in received.values() if QualityFlag.CLOCK_CORRECTED not in r.quality]
        assert corrected and plain
        for r in received.values():
            # Taken during this test, a few seconds before it reached the gateway.
            assert timedelta(0) <= r.received_at - r.measured_at < timedelta(seconds=60)
        for r in corrected:  # stamped by the slow clock: two hours behind
            assert r.device_time is not None
            assert r.measured_at.replace(tzinfo=None) - r.device_time > timedelta(hours=1.9)
        (skew,) = rig.ingest.events_of(DeviceEventKind.CLOCK_SKEW)
        assert skew.device_id == CUFF and "behind" in (skew.detail or "")
        assert len(rig.ingest.events_of(DeviceEventKind.CLOCK_SET)) == 1
    finally:
        agent.stop()


def test_silence_battery_and_device_states(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """The strap streams at 1 Hz (expected every 2 s: never silent meanwhile), then goes
    silent (dead battery): one SILENT event after its expected interval, not one per check.
    Battery levels are reported as events and in the heartbeat's device states."""
    strap = HeartRateStrap(STRAP, values=varying(),
                           faults=FaultProfile(battery_start=57.0, battery_drain_per_day=0.0))
    rig = rig_factory(mqtt_broker, [strap])
    rig.config.write_text(rig.config.read_text() + "expected_interval_s = 2.0\n")  # 1 Hz strap
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        rig.wait_for_readings(3)
        battery = rig.ingest.events_of(DeviceEventKind.BATTERY)
        assert battery and battery[0].battery_level == 57
        wait_until(lambda: _heartbeat_device(rig, STRAP), "a heartbeat with the strap's state")
        state = _heartbeat_device(rig, STRAP)
        assert state is not None and state.battery_level == 57 and state.connected
        streaming = rig.ingest.events_of(DeviceEventKind.SILENT)
        silenced_at = datetime.now(UTC)
        rig.devices.thread.call(strap.go_silent)

        def spell() -> list[DeviceEvent]:
            return [e for e in rig.ingest.events_of(DeviceEventKind.SILENT)
                    if e.at > silenced_at]

        wait_until(spell, "a SILENT event")
        time.sleep(3.0)  # more expected intervals pass: still one event for this spell
        (silent,) = spell()
        # While it streamed, none (bar one before its first connection on a slow machine).
        assert len(streaming) <= 1
        assert silent.device_id == STRAP and "no measurement" in (silent.detail or "")
    finally:
        agent.stop()


def _heartbeat_device(rig: Rig, device_id: str) -> DeviceState | None:
    with rig.ingest._lock:
        statuses = list(rig.ingest.statuses)
    for raw in reversed(statuses):
        status = GatewayStatus.model_validate_json(raw)
        for device in status.devices:
            if device.device_id == device_id and device.battery_level is not None:
                return device
    return None


def test_a_device_paired_as_the_wrong_profile_needs_attention(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """A heart-rate strap configured as a pulse oximeter: a permanent failure, reported once
    as an ERROR event (then retried only every permanent_s, not hammered)."""
    strap = HeartRateStrap(STRAP, values=varying())
    rig = rig_factory(mqtt_broker, [strap])
    rig.config.write_text(rig.config.read_text().replace('profile = "heart_rate"',
                                                         'profile = "pulse_oximeter"'))
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        wait_until(lambda: rig.ingest.events_of(DeviceEventKind.ERROR), "an ERROR event")
        time.sleep(1.0)
        (error,) = rig.ingest.events_of(DeviceEventKind.ERROR)
        assert error.device_id == STRAP and "wrong profile" in (error.detail or "")
        assert rig.received() == {}
        assert agent.agent.supervisors[0].sessions == 1
    finally:
        agent.stop()
