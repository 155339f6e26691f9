"""Per-device supervision: find the device, connect (bleak-retry-connector), run a session,
and after every ending -- a clean disconnect, a dropped link, a refused connection -- wait by
the kind of failure (edge.failures) and start again. It never gives up on a device.

Waiting, by failure kind:
- not advertising: keep listening; the shared scanner wakes the supervisor on the device's
  next advertisement, so a cuff that advertises for a few seconds after a measurement is not
  missed while a timer runs;
- connect said "not found" although it advertised: not_found backoff (2 s .. 60 s);
- transient: transient backoff (1 s .. 30 s), reset by a session that delivered readings or
  lasted; a normal disconnect after such a session reconnects after the initial delay;
- permanent: permanent_s (10 min), with an ERROR event once per distinct cause.

A separate watchdog raises SILENT when no measurement arrived for longer than the device's
expected interval (once per silent spell).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from bleak import BleakClient
from bleak_retry_connector import establish_connection

from edge.backoff import Backoff
from edge.clock import ClockPolicy
from edge.config import DeviceConfig, GatewaySettings
from edge.failures import DeviceNotFound, FailureKind, classify
from edge.radio import Finder, Radio
from edge.recorder import Recorder
from edge.session import DeviceStatus, Session, SessionContext
from vigil.messages import DeviceEventKind, DeviceState

log = logging.getLogger("edge.supervisor")

# A session this long counts as healthy even if it delivered nothing (spot devices idle).
HEALTHY_SESSION_S = 30.0
CONNECT_ATTEMPTS = 3


class DeviceSupervisor:
    def __init__(
        self,
        device: DeviceConfig,
        *,
        settings: GatewaySettings,
        radio: Radio,
        finder: Finder,
        recorder: Recorder,
        policy: ClockPolicy,
    ) -> None:
        self.device = device
        self.status = DeviceStatus()
        self._settings = settings
        self._radio = radio
        self._finder = finder
        self._recorder = recorder
        self._policy = policy
        rc = settings.reconnect
        self._transient = Backoff(rc.transient_initial_s, rc.transient_max_s)
        self._not_found = Backoff(rc.not_found_initial_s, rc.not_found_max_s)
        self._last_error: str | None = None
        # When the last link ended: the next connection needs an advertisement heard after it.
        self._link_ended_at: float | None = None
        self._last_heard = time.monotonic()
        self._silent = False
        self.sessions = 0

    @property
    def device_id(self) -> str:
        return self.device.device_id

    def state(self) -> DeviceState:
        return DeviceState(
            device_id=self.device_id, connected=self.status.connected,
            last_seen=self.status.last_seen, battery_level=self.status.battery_level,
            rssi=self.status.rssi,
        )

    # --- the connection loop ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            delay = await self._attempt()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _attempt(self) -> float:
        """One find-connect-session round; returns how long to wait before the next."""
        started = time.monotonic()
        session: Session | None = None
        try:
            sighting = await self._finder.find(self.device.address,
                                               self._settings.reconnect.scan_timeout_s,
                                               newer_than=self._link_ended_at)
            if sighting is None:
                raise DeviceNotFound(self.device.address, self._settings.reconnect.scan_timeout_s)
            self.status.rssi = sighting.advertisement.rssi
            disconnected = asyncio.Event()
            client = await establish_connection(
                BleakClient, sighting.device, self.device.name or self.device_id,
                disconnected_callback=lambda _client: disconnected.set(),
                max_attempts=CONNECT_ATTEMPTS, **self._radio.client_kwargs(),
            )
            self.sessions += 1
            started = time.monotonic()
            try:
                session = Session(client, self._context())
                await session.run(disconnected)
            finally:
                with contextlib.suppress(Exception):
                    await client.disconnect()
                self._link_ended_at = time.monotonic()
                self._ended(session, "link closed")
            return self._after_session(session, started)
        except asyncio.CancelledError:
            raise
        except DeviceNotFound as exc:
            # Listening costs nothing: go straight back to waiting for an advertisement.
            log.debug("not advertising", extra={"device": self.device_id, "error": str(exc)})
            return 0.0
        except Exception as exc:
            if session is not None and session.delivered:
                self._transient.reset()
            return self._failed(exc)

    def _context(self) -> SessionContext:
        return SessionContext(
            device_id=self.device_id, profile=self.device.profile, recorder=self._recorder,
            policy=self._policy, set_device_clock=self._settings.clock.set_device_clock,
            late_after_s=self._settings.late_after_s, status=self.status, heard=self._heard,
        )

    def _ended(self, session: Session | None, why: str) -> None:
        if self.status.connected:
            self.status.connected = False
            delivered = session.delivered if session is not None else 0
            self._recorder.event(DeviceEventKind.DISCONNECTED, self.device_id,
                                 detail=f"{why}; {delivered} readings this session")

    def _after_session(self, session: Session | None, started: float) -> float:
        healthy = (session is not None and session.delivered > 0) or \
            time.monotonic() - started > HEALTHY_SESSION_S
        self._last_error = None
        if healthy:
            self._transient.reset()
            self._not_found.reset()
            return self._settings.reconnect.transient_initial_s
        return self._transient.next_delay()

    def _failed(self, exc: Exception) -> float:
        kind = classify(exc)
        text = f"{type(exc).__name__}: {exc}"
        extra = {"device": self.device_id, "failure": kind.value, "error": text[:500]}
        if kind is FailureKind.PERMANENT:
            log.error("device needs attention", extra=extra)
            if text != self._last_error:
                self._recorder.event(DeviceEventKind.ERROR, self.device_id, detail=text[:1000])
            self._last_error = text
            return self._settings.reconnect.permanent_s
        if kind is FailureKind.NOT_FOUND:
            delay = self._not_found.next_delay()
        else:
            delay = self._transient.next_delay()
        log.warning("connection failed", extra={**extra, "retry_in_s": round(delay, 2)})
        return delay

    # --- silence ------------------------------------------------------------------------------

    def _heard(self, at: datetime) -> None:
        self._last_heard = time.monotonic()
        self._silent = False

    async def watch_silence(self) -> None:
        expected = self.device.silence_after_s
        period = min(max(expected / 10.0, 0.1), 30.0)
        while True:
            await asyncio.sleep(period)
            quiet = time.monotonic() - self._last_heard
            if quiet > expected and not self._silent:
                self._silent = True
                self._recorder.event(
                    DeviceEventKind.SILENT, self.device_id,
                    detail=f"no measurement for {quiet:.0f} s (expected every {expected:g} s)")
