"""End-to-end harness for the gateway agent: a test subscriber that plays ingest, emulated
devices hosted in a loop thread (in-process for the local backend, behind a RoomServer for the
remote one), the agent in-process or as a `vigil edge run` subprocess, and the oracle computed
from what the devices actually put on the air."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import Agent
from edge.config import load_settings
from edge.gatt import MalformedPacket, Measurement, convert, decode
from simulators.ble import Room, local
from simulators.ble.server import RoomServer
from simulators.devices import EmulatedDevice
from vigil.messages import (
    Ack,
    DeviceEvent,
    DeviceEventKind,
    GatewayState,
    GatewayStatus,
    Reading,
    ReadingBatch,
    encode,
)
from vigil.topics import Channel, topic

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
# Generous: the machine is shared and noisy; the tests never assert on time, only wait.
PATIENCE_S = 45.0


def wait_until(predicate: Callable[[], object], what: str, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


# --- ingest, played by the test ---------------------------------------------------------------

class IngestDouble:
    """Subscribes to one gateway's readings and events, keeps every reading by id (the first
    copy, as a database unique key would) and acknowledges after keeping it."""

    def __init__(self, port: int, gateway_id: str, ack: bool = True) -> None:
        self.gateway_id = gateway_id
        self.ack = ack
        self.readings: dict[str, Reading] = {}
        self.copies: dict[str, int] = {}
        self.events: dict[str, DeviceEvent] = {}
        self.statuses: list[bytes] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"ingest-double-{gateway_id}", clean_session=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect_async("127.0.0.1", port)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        for channel in (Channel.READINGS, Channel.EVENTS, Channel.STATUS):
            client.subscribe(topic(self.gateway_id, channel), qos=1)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        stored: list[str] = []
        with self._lock:
            if msg.topic.endswith("/readings"):
                batch = ReadingBatch.model_validate_json(msg.payload)
                for reading in batch.readings:
                    self.readings.setdefault(reading.id, reading)
                    self.copies[reading.id] = self.copies.get(reading.id, 0) + 1
                    stored.append(reading.id)
            elif msg.topic.endswith("/events"):
                event = DeviceEvent.model_validate_json(msg.payload)
                self.events.setdefault(event.event_id, event)
                stored.append(event.event_id)
            else:
                self.statuses.append(bytes(msg.payload))
        if stored and self.ack:
            ack = Ack(gateway_id=self.gateway_id, committed_at=datetime.now(UTC), stored=stored)
            client.publish(topic(self.gateway_id, Channel.ACK), encode(ack), qos=1)

    def snapshot(self) -> tuple[dict[str, Reading], list[DeviceEvent]]:
        with self._lock:
            return dict(self.readings), list(self.events.values())

    def last_status(self) -> GatewayStatus | None:
        with self._lock:
            raw = self.statuses[-1] if self.statuses else None
        return None if raw is None else GatewayStatus.model_validate_json(raw)

    def outbox_depth(self) -> int:
        """The depth the gateway reported in its latest status (-1 before any)."""
        with self._lock:
            if not self.statuses:
                return -1
            status = GatewayStatus.model_validate_json(self.statuses[-1])
        return status.outbox_depth if status.state is GatewayState.ONLINE else -1

    def events_of(self, kind: DeviceEventKind) -> list[DeviceEvent]:
        return [e for e in self.snapshot()[1] if e.event is kind]


# --- the oracle: what the devices put on the air -----------------------------------------------

@dataclass
class Expected:
    # Readings with a device timestamp: id -> possible (metric, value) (a record re-sent after a
    # corruption may carry another value under the same id).
    stamped: dict[str, set[tuple[str, float]]] = field(default_factory=dict)
    # Readings without one (PLX continuous, heart rate): per device, the values in send order.
    streams: dict[str, list[tuple[tuple[str, float], ...]]] = field(default_factory=dict)
    # Raw hex of delivered packets that cannot become readings.
    malformed: set[str] = field(default_factory=set)
    # Stamped readings of indications the device counts as failed: the link went before the
    # confirmation came back, but the gateway may well have had (and kept) the value. The
    # device sends such a record again later; it may show up, it must not be required.
    attempted: dict[str, set[tuple[str, float]]] = field(default_factory=dict)


MEASUREMENT_UUIDS = {0x2A5E, 0x2A5F, 0x2A35, 0x2A1C, 0x2A9D, 0x2A18, 0x2A37}


def expected_from(devices: Iterable[EmulatedDevice]) -> Expected:
    out = Expected()
    now = datetime.now(UTC)
    for device in devices:
        log = list(device.sent)
        if device.sent_total > len(log):
            raise AssertionError(
                f"{device.address} sent {device.sent_total} packets but logged only the last "
                f"{len(log)}: the oracle would be incomplete; give the device a longer sent_log")
        for packet in log:
            if packet.uuid not in MEASUREMENT_UUIDS:
                continue
            try:
                value = decode(packet.uuid, packet.data)
                if not isinstance(value, Measurement):
                    raise MalformedPacket("not a measurement")
                readings = convert(value, device_id=device.address, received_at=now).readings
            except ValueError:  # MalformedPacket is one
                if packet.delivered:
                    out.malformed.add(packet.data.hex())
                continue
            if not packet.delivered:
                for r in readings:
                    out.attempted.setdefault(r.id, set()).add((r.metric.value, r.value))
                continue
            if readings and readings[0].device_time is None:
                out.streams.setdefault(device.address, []).append(_values(readings))
            for r in readings:
                if r.device_time is not None:
                    out.stamped.setdefault(r.id, set()).add((r.metric.value, r.value))
    return out


def _values(readings: Iterable[Reading]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((r.metric.value, r.value) for r in readings))


def received_streams(readings: Iterable[Reading]) -> dict[str, list[tuple[tuple[str, float],
                                                                          ...]]]:
    by_time: dict[tuple[str, datetime], list[Reading]] = {}
    for r in readings:
        if r.device_time is None:
            by_time.setdefault((r.device_id, r.measured_at), []).append(r)
    out: dict[str, list[tuple[tuple[str, float], ...]]] = {}
    for (device_id, _), group in sorted(by_time.items()):
        out.setdefault(device_id, []).append(_values(group))
    return out


def check_every_reading_arrived(expected: Expected, received: dict[str, Reading]) -> None:
    """The oracle: every stamped reading id the devices delivered was received, with a value
    the device sent under that id, and nothing else was (beyond records whose indication the
    device counts as unconfirmed); each stream arrived whole, in order."""
    check_stamped(expected, received)
    got = received_streams(received.values())
    assert got == expected.streams, _streams_difference(expected.streams, got)


def _streams_difference(expected: dict[str, list[tuple[tuple[str, float], ...]]],
                        got: dict[str, list[tuple[tuple[str, float], ...]]]) -> str:
    """Where the first received stream departs from what its device sent, for the report."""
    for device_id in sorted(set(expected) | set(got)):
        want, have = expected.get(device_id, []), got.get(device_id, [])
        if want != have:
            at = next((i for i, (w, h) in enumerate(zip(want, have, strict=False))
                       if w != h),
                      min(len(want), len(have)))
            return (f"{device_id}: sent {len(want)} measurements, received {len(have)}; first "
                    f"difference at {at}: sent {want[at:at + 3]}, received {have[at:at + 3]}")
    return "streams differ"


def check_stamped(expected: Expected, received: dict[str, Reading]) -> None:
    got = {i: r for i, r in received.items() if r.device_time is not None}
    missing = set(expected.stamped) - set(got)
    invented = set(got) - set(expected.stamped) - set(expected.attempted)
    assert not missing and not invented, f"{len(missing)} missing, {len(invented)} invented"
    for reading_id, reading in got.items():
        sent = expected.stamped.get(reading_id, set()) | expected.attempted.get(reading_id, set())
        assert (reading.metric.value, reading.value) in sent


# --- running things ------------------------------------------------------------------------------

class LoopThread:
    """An event loop in a thread, for the devices (and an in-process agent)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = PATIENCE_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Devices:
    """Emulated devices running in a loop thread, visible to the local backend and, when
    served, to remote backends in other processes."""

    def __init__(self, devices: list[EmulatedDevice], serve: bool = False,
                 port: int = 0, serve_now: bool = True) -> None:
        self.devices = devices
        self.thread = LoopThread()
        self.room = Room(devices, report_interval=0.1)
        local.set_room(self.room)
        self.server: RoomServer | None = RoomServer(self.room, port=port) if serve else None
        self.address = f"127.0.0.1:{port}"
        self.thread.run(self.room.start())
        if serve_now:
            self.serve()

    def serve(self) -> None:
        """Start serving the room to remote backends (the radio "comes up")."""
        if self.server is not None:
            self.address = self.thread.run(self.server.start())

    def stop_measuring(self) -> None:
        """The devices stop producing (links stay up, so what is pending still flows)."""
        async def halt() -> None:
            for device in self.devices:
                for task in device._tasks:
                    task.cancel()
                for task in list(getattr(device, "_side_tasks", ())):
                    task.cancel()
            await asyncio.sleep(0.2)
        self.thread.run(halt())

    def call_store_size(self, device: EmulatedDevice) -> int:
        """How many measurements a measuring device holds in its memory."""
        return self.thread.call(lambda: len(getattr(device, "store", ())))

    def pending(self) -> int:
        """Records still waiting on the devices for a client to take them."""
        return self.thread.call(lambda: sum(len(getattr(d, "pending", ())) for d in self.devices))

    def expected(self) -> Expected:
        return self.thread.call(lambda: expected_from(self.devices))

    def close(self) -> None:
        async def stop() -> None:
            if self.server is not None:
                await self.server.close()
            await self.room.stop()
        self.thread.run(stop())
        self.thread.close()


class InProcessAgent:
    """The real agent on the devices' loop (the local backend needs the room's loop)."""

    def __init__(self, config: Path, devices: Devices) -> None:
        settings = load_settings(config)
        # Built on the loop's thread: the outbox's SQLite connection belongs to that thread.
        self.agent = devices.thread.call(lambda: Agent(settings))
        self._devices = devices
        self._stop = asyncio.Event()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), devices.thread.loop)

    async def _run(self) -> int:
        self._stop = asyncio.Event()
        return await self.agent.run(self._stop)

    def stop(self) -> None:
        self._devices.thread.loop.call_soon_threadsafe(self._stop.set)
        try:
            assert self._task.result(PATIENCE_S) == 0, "the agent failed"
        except TimeoutError:
            _dump_stacks(self._devices.thread.loop)
            raise

    def outbox_depth(self) -> int:
        return self._devices.thread.call(lambda: self.agent.outbox.stats().depth)


def _dump_stacks(loop: asyncio.AbstractEventLoop) -> None:
    """What a stuck loop is doing: every thread's stack and every task's (for the report)."""
    import traceback

    for thread_id, frame in sys._current_frames().items():
        print(f"--- thread {thread_id}", file=sys.stderr)
        traceback.print_stack(frame, file=sys.stderr)
    for task in asyncio.all_tasks(loop):
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(file=sys.stderr)


class AgentProcess:
    """`vigil edge run --config ...` as a child process (for power-cut tests)."""

    def __init__(self, config: Path, log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "edge", "run", "--config", str(config)],
            cwd=ROOT, stdout=self._log, stderr=self._log, start_new_session=True)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(PATIENCE_S)

    def terminate(self) -> int:
        self.process.terminate()
        return self.process.wait(PATIENCE_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


def write_config(path: Path, *, gateway_id: str, port: int, backend: str,
                 devices: list[tuple[str, str]], extra: str = "",
                 backend_options: str = "") -> Path:
    lines = [
        f'gateway_id = "{gateway_id}"',
        f'mqtt_url = "mqtt://127.0.0.1:{port}"',
        f'ble_backend = "{backend}"',
        "heartbeat_interval_s = 1",
        f'status_file = "{path.parent / "health.json"}"',
        extra,
        "[outbox]",
        f'path = "{path.parent / "outbox.db"}"',
        "resend_initial_s = 1",
        "resend_max_s = 4",
        "[reconnect]",
        "transient_initial_s = 0.2",
        "transient_max_s = 1",
        "not_found_initial_s = 0.2",
        "not_found_max_s = 1",
    ]
    if backend_options:
        lines += ["[ble_backend_options]", backend_options]
    for address, profile in devices:
        lines += ["[[devices]]", f'address = "{address}"', f'profile = "{profile}"']
    path.write_text("\n".join(lines) + "\n")
    return path
