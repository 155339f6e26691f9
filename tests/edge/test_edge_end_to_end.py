"""The real agent, emulated devices, a real Mosquitto and a test subscriber playing ingest.

Oracle, in every test: the devices' own log of what they put on the air (delivered packets)
gives the expected set of reading ids (readings stamped by the device), the expected value
sequence of each stream (continuous readings, which have no device stamp), and the raw bytes of
every packet that cannot be decoded. The subscriber must hold exactly those ids, each with a
value the device sent, every stream whole and in order, and a MALFORMED_PACKET event carrying
each undecodable packet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from edge_harness import (
    AgentProcess,
    InProcessAgent,
    check_every_reading_arrived,
    check_stamped,
    received_streams,
    wait_until,
)
from edge_rig import REMOTE, Rig, kit

from devstack.mosquitto import MosquittoBroker
from devstack.ports import free_port
from simulators.devices import FaultProfile
from vigil.messages import DeviceEventKind, Origin
from vigil.metrics import Metric


def test_every_reading_arrives_once_by_id(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    rig = rig_factory(mqtt_broker, kit())
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        rig.wait_for_readings(60)
        rig.settle(agent.outbox_depth)
        expected = rig.devices.expected()
        check_every_reading_arrived(expected, rig.received())
        kinds = {r.metric for r in rig.received().values()}
        assert kinds >= {Metric.SPO2, Metric.PULSE_RATE, Metric.SYSTOLIC_BP,
                         Metric.BODY_TEMPERATURE, Metric.BODY_WEIGHT, Metric.BLOOD_GLUCOSE,
                         Metric.HEART_RATE}
        # Every device was connected, and glucose records came from storage via RACP.
        connected = {e.device_id for e in rig.ingest.events_of(DeviceEventKind.CONNECTED)}
        assert connected == {d.address for d in rig.devices.devices}
        glucose = [r for r in rig.received().values() if r.metric is Metric.BLOOD_GLUCOSE]
        assert glucose and all(r.origin is Origin.STORED and r.sequence is not None
                               for r in glucose)
        assert rig.ingest.events_of(DeviceEventKind.MALFORMED_PACKET) == []
    finally:
        agent.stop()


def test_broker_killed_mid_stream(
        rig_factory: Callable[..., Rig], own_broker: MosquittoBroker) -> None:
    """(a) SIGKILL the broker while readings flow, restart it on the same port."""
    rig = rig_factory(own_broker, kit())
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        rig.wait_for_readings(40)
        own_broker.kill()
        time.sleep(1.5)  # devices keep measuring into the outbox meanwhile
        own_broker.start()
        rig.wait_for_readings(len(rig.received()) + 40)
        rig.settle(agent.outbox_depth)
        check_every_reading_arrived(rig.devices.expected(), rig.received())
    finally:
        agent.stop()


def test_devices_drop_the_link_repeatedly(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """(c) One packet in four ends the link; one connection attempt in five is refused."""
    faults = FaultProfile(drop_rate=0.25, connect_failure_rate=0.2)
    rig = rig_factory(mqtt_broker, kit(faults, stream_s=0.05))
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        wait_until(lambda: len(rig.ingest.events_of(DeviceEventKind.DISCONNECTED)) >= 15,
                   "repeated disconnects")
        rig.settle(agent.outbox_depth)
        check_every_reading_arrived(rig.devices.expected(), rig.received())
    finally:
        agent.stop()


def test_uplink_down_then_back_backfill_is_late(
        rig_factory: Callable[..., Rig], own_broker: MosquittoBroker) -> None:
    """(d) The broker is away (an hour compressed into seconds: late_after_s = 1.5 and a
    200 Hz oximeter stream); what the gateway received meanwhile goes out late, same ids."""
    late_after = 1.5
    rig = rig_factory(own_broker, kit(stream_s=0.005, kinds=("oximeter", "bp", "glucose")),
                      extra=f"late_after_s = {late_after}")
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        rig.wait_for_readings(40)
        own_broker.stop()
        down_at = time.time()
        time.sleep(4.0)
        up_at = time.time()
        own_broker.start()
        rig.settle(agent.outbox_depth)
        received = rig.received()
        check_every_reading_arrived(rig.devices.expected(), received)
        outage = [r for r in received.values()
                  if down_at + 0.5 < r.received_at.timestamp() < up_at - late_after - 0.5]
        assert len(outage) > 100
        assert {r.origin for r in outage if r.origin is not Origin.STORED} == {Origin.LATE}
        assert any(r.origin is Origin.LIVE for r in received.values())
        for r in outage:
            assert r.id == r.expected_id()  # the id ignores the origin
    finally:
        agent.stop()


def test_corrupted_packets_are_reported_and_nothing_else_is_lost(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """(e) Bit flips and truncations: undecodable packets become MALFORMED_PACKET events with
    their raw bytes; everything decodable arrives; supervision carries on."""
    faults = FaultProfile(corrupt_rate=0.1, truncate_rate=0.1)
    rig = rig_factory(mqtt_broker, kit(faults, stream_s=0.05,
                                       kinds=("oximeter", "bp", "thermometer", "hr")))
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        wait_until(lambda: len(rig.ingest.events_of(DeviceEventKind.MALFORMED_PACKET)) >= 10,
                   "malformed packets")
        rig.settle(agent.outbox_depth)
        expected = rig.devices.expected()
        check_every_reading_arrived(expected, rig.received())
        reported = {e.raw_hex for e in rig.ingest.events_of(DeviceEventKind.MALFORMED_PACKET)}
        assert expected.malformed and reported == expected.malformed
    finally:
        agent.stop()


def test_agent_waits_for_a_missing_radio(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker) -> None:
    """No adapter at start (the emulated room is not up): the agent still runs its uplink and
    reports online, retries the scanner, and reads the devices once the radio appears."""
    rig = rig_factory(mqtt_broker, kit(kinds=("oximeter", "bp")), backend=REMOTE,
                      room_port=free_port(), serve_now=False)
    agent = InProcessAgent(rig.config, rig.devices)
    try:
        wait_until(lambda: rig.ingest.outbox_depth() >= 0, "an online status")
        assert rig.received() == {}
        rig.devices.serve()
        rig.wait_for_readings(20)
        rig.settle(agent.outbox_depth)
        check_every_reading_arrived(rig.devices.expected(), rig.received())
    finally:
        agent.stop()


def test_agent_killed_mid_stream_and_restarted(
        rig_factory: Callable[..., Rig], mqtt_broker: MosquittoBroker, tmp_path: Path) -> None:
    """(b) Power cut: SIGKILL `vigil edge run` (remote backend; the devices served from another
    process) while it holds unacknowledged readings, then start it again on the same outbox.

    Oracle as above, except for continuous samples notified in the instant of the kill: a
    notification has no confirmation, so one in flight when the power goes is lost on the air
    although the device logged it as sent. Indicated records (confirmed only after the agent
    committed them) and RACP records (re-fetched after the last committed sequence) are all
    there, and so is every stream sample the agent had committed."""
    rig = rig_factory(mqtt_broker, kit(kinds=("oximeter", "bp", "thermometer", "glucose")),
                      backend=REMOTE)
    log = tmp_path / "agent.log"
    agent = AgentProcess(rig.config, log)
    try:
        rig.wait_for_readings(40)
        rig.ingest.ack = False  # ingest stalls: the outbox fills with unacknowledged readings
        rig.wait_for_readings(len(rig.received()) + 40)
        wait_until(lambda: rig.ingest.outbox_depth() > 20, "unacknowledged readings")
        agent.kill()
        # The broker saw the connection die: the last will says so, retained.
        wait_until(lambda: _state(rig) == ("offline", "connection lost"), "the last will")
        rig.ingest.ack = True
        agent = AgentProcess(rig.config, log)
        rig.wait_for_readings(len(rig.received()) + 40)
        rig.settle(rig.ingest.outbox_depth, whole_streams=False)
        expected = rig.devices.expected()
        received = rig.received()
        check_stamped(expected, received)
        got_streams = received_streams(received.values())
        for device_id, sent in expected.streams.items():
            got = got_streams.get(device_id, [])
            remaining = iter(sent)
            assert all(any(g == s for s in remaining) for g in got), "not a subsequence"
            assert len(sent) - len(got) <= 5, "more than the in-flight notifications lost"
        # The restarted agent found the unacknowledged readings and resent them.
        starts = [json.loads(line) for line in log.read_text().splitlines()
                  if '"agent starting"' in line]
        assert len(starts) == 2 and starts[1]["outbox_depth"] > 20
        assert agent.terminate() == 0  # SIGTERM stops it cleanly
        assert '"agent stopped"' in log.read_text().splitlines()[-1]
        wait_until(lambda: _state(rig) == ("offline", "shutdown"), "the offline status")
    finally:
        agent.close()


def _state(rig: Rig) -> tuple[str, str | None] | None:
    status = rig.ingest.last_status()
    return None if status is None else (status.state.value, status.reason)
