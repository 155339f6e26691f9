"""The gateway agent: one asyncio loop running a supervisor per device, the sender, the
heartbeat and the health file; paho's network thread beside it. SIGTERM (via `stop`) ends it
cleanly: sessions disconnect, a retained "offline" status goes out, the outbox closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from edge.clock import ClockPolicy, zone
from edge.config import GatewaySettings
from edge.outbox import Outbox, OutboxLimits
from edge.radio import Finder, load_radio
from edge.recorder import Counters, Recorder
from edge.sender import Sender
from edge.supervisor import DeviceSupervisor
from edge.uplink import Uplink
from vigil import __version__
from vigil.messages import Ack, DeviceEventKind, DeviceState, GatewayState, GatewayStatus

log = logging.getLogger("edge.agent")

HEALTH_INTERVAL_S = 5.0
# Acknowledged items are deleted with the next outbox write, or after this long at the latest.
ACK_FLUSH_S = 5.0
EXPIRY_INTERVAL_S = 60.0


class HealthReport(BaseModel):
    """The health file: what `vigil edge status` and monitoring read."""

    gateway_id: str
    pid: int
    state: str  # running | stopped
    updated_at: datetime
    uplink_connected: bool
    outbox_depth: int
    outbox_bytes: int
    oldest_pending_at: datetime | None
    counters: Counters
    devices: list[DeviceState]


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class Agent:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.gateway_id = settings.gateway_id
        ob = settings.outbox
        self.counters = Counters()
        self.outbox = Outbox(ob.path, settings.gateway_id, OutboxLimits(
            max_items=ob.max_items, max_bytes=ob.max_bytes, max_age_s=ob.max_age_s,
            resend_initial_s=ob.resend_initial_s, resend_max_s=ob.resend_max_s),
            on_acked=self._count_acked)
        self.radio = load_radio(settings.ble_backend, settings.ble_backend_options)
        self.finder = Finder(self.radio)
        self.uplink = Uplink(settings, on_ack=self._ack_from_thread,
                             on_connected=self._connected_from_thread,
                             software_version=__version__)
        self.sender = Sender(self.outbox, self.uplink, late_after_s=settings.late_after_s,
                             counters=self.counters)
        self.recorder = Recorder(self.outbox, settings.gateway_id, self.sender.wake.set,
                                 self.counters, on_committed=self.sender.committed)
        clock = settings.clock
        policy = ClockPolicy(zone(clock.timezone), clock.tolerance_s, clock.skew_threshold_s)
        self.supervisors = [
            DeviceSupervisor(device, settings=settings, radio=self.radio, finder=self.finder,
                             recorder=self.recorder, policy=policy)
            for device in settings.devices
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ack_flush: asyncio.TimerHandle | None = None
        self._closed = False

    # --- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Run until `stop` is set (0) or a part of the agent fails unexpectedly (1: the
        service manager restarts it; the outbox keeps everything)."""
        self._loop = asyncio.get_running_loop()
        expired = self.outbox.expire(time.time())
        stats = self.outbox.stats()
        log.info("agent starting", extra={
            "gateway_id": self.gateway_id, "devices": len(self.supervisors),
            "ble_backend": self.radio.name, "outbox_depth": stats.depth, "expired": expired})
        self._announce_new_devices()
        self.uplink.start()
        tasks = [asyncio.create_task(self.finder.run(), name="scanner"),
                 asyncio.create_task(self.sender.run(), name="sender"),
                 asyncio.create_task(self._every(self.settings.heartbeat_interval_s,
                                                 self._heartbeat), name="heartbeat"),
                 asyncio.create_task(self._every(EXPIRY_INTERVAL_S, self._expire),
                                     name="expiry")]
        if self.settings.status_file is not None:
            tasks.append(asyncio.create_task(self._every(HEALTH_INTERVAL_S, self._write_health),
                                             name="health"))
        for supervisor in self.supervisors:
            tasks.append(asyncio.create_task(supervisor.run(), name=supervisor.device_id))
            tasks.append(asyncio.create_task(supervisor.watch_silence(),
                                             name=f"{supervisor.device_id}-silence"))
        stopping = asyncio.create_task(stop.wait(), name="stop")
        failed = False
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                failed = True
                error = task.exception() if not task.cancelled() else None
                log.critical("part of the agent stopped unexpectedly; exiting to be restarted",
                             extra={"task": task.get_name()},
                             exc_info=(type(error), error, error.__traceback__) if error else None)
        finally:
            log.info("agent stopping")
            stopping.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.uplink.stop("shutdown")  # joins paho's thread: no callbacks after this
            await asyncio.sleep(0)  # let acks it already handed over reach the outbox
            self._write_health(state="stopped")
            self._closed = True
            self.outbox.close()
            log.info("agent stopped")
        return 1 if failed else 0

    async def _every(self, period: float, action: Callable[[], object]) -> None:
        while True:
            try:
                action()
            except Exception:
                log.exception("periodic task failed", extra={"task": getattr(action, "__name__",
                                                                             "?")})
            await asyncio.sleep(period)

    def _announce_new_devices(self) -> None:
        """A PAIRED event for each configured device this gateway has not run before."""
        known = self.outbox.known_devices()
        for supervisor in self.supervisors:
            if supervisor.device_id not in known:
                self.outbox.remember_device(supervisor.device_id)
                self.recorder.event(
                    DeviceEventKind.PAIRED, supervisor.device_id,
                    detail=f"profile {supervisor.device.profile.value}"
                           + (f", name {supervisor.device.name}" if supervisor.device.name else ""))

    # --- uplink callbacks (handed over from paho's thread) ----------------------------------

    def _ack_from_thread(self, ack: Ack) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._acked, ack)

    def _connected_from_thread(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._uplink_up)

    def _acked(self, ack: Ack) -> None:
        if self._closed:
            return  # a late ack after shutdown: the next run resends, ingest deduplicates
        for rejected in ack.rejected:
            # Ingest dead-lettered it with the raw message: kept centrally, so it may go here.
            log.warning("ingest rejected a reading", extra={"id": rejected.id,
                                                            "reason": rejected.reason})
        ids = [*ack.stored, *(r.id for r in ack.rejected)]
        # Deleted with the outbox's next write (a reading, a send round), not a commit each;
        # the timer bounds the wait when nothing else is written.
        self.outbox.acknowledge_later(ids)
        if self._ack_flush is None and self._loop is not None:
            self._ack_flush = self._loop.call_later(ACK_FLUSH_S, self._flush_acks)
        self.sender.acknowledged(ids)
        self.counters.rejected += len(ack.rejected)

    def _flush_acks(self) -> None:
        self._ack_flush = None
        if not self._closed:
            self.outbox.flush_acks()

    def _count_acked(self, removed: int) -> None:
        self.counters.acked += removed

    def _uplink_up(self) -> None:
        if self._closed:
            return
        # Whatever was sent before this connection may be lost with the broker: resend now.
        self.outbox.make_all_due(time.time())
        self.uplink.publish_status(self.status())
        self.sender.reconnected()

    # --- status -----------------------------------------------------------------------------

    def status(self) -> GatewayStatus:
        stats = self.outbox.stats()
        return GatewayStatus(
            gateway_id=self.gateway_id, state=GatewayState.ONLINE, at=datetime.now(UTC),
            software_version=__version__, outbox_depth=stats.depth,
            oldest_pending_at=_at(stats.oldest_created_at),
            heartbeat_interval_s=self.settings.heartbeat_interval_s,
            devices=[s.state() for s in self.supervisors],
        )

    def _heartbeat(self) -> None:
        status = self.status()
        self.uplink.publish_status(status)
        log.info("status", extra={
            "uplink": "connected" if self.uplink.connected else "down",
            "outbox_depth": status.outbox_depth,
            "connected_devices": sum(d.connected for d in status.devices),
            "devices": len(status.devices), **vars(self.counters)})

    def _expire(self) -> None:
        if self.outbox.expire(time.time()):
            self.sender.wake.set()

    def health(self, state: str = "running") -> HealthReport:
        stats = self.outbox.stats()
        return HealthReport(
            gateway_id=self.gateway_id, pid=os.getpid(), state=state,
            updated_at=datetime.now(UTC), uplink_connected=self.uplink.connected,
            outbox_depth=stats.depth, outbox_bytes=stats.bytes,
            oldest_pending_at=_at(stats.oldest_created_at), counters=self.counters,
            devices=[s.state() for s in self.supervisors],
        )

    def _write_health(self, state: str = "running") -> None:
        path = self.settings.status_file
        if path is None:
            return
        write_atomically(path, self.health(state).model_dump_json(indent=2))


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
