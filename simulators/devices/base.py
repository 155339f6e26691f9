"""What every emulated device shares: identity, Battery and Device Information services, a
settable clock (Current Time Service), faults, and a life that runs on the simulation clock.

A profile subclass adds its service in `_build`, its behaviour in `_run`, and says when it wants
to advertise. It sends through `notify` / `indicate` here, which apply the fault profile
(corruption, truncation, link drops) and keep a log of what was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from edge.gatt import BatteryLevel, CurrentTime, GattValue, MalformedPacket, decode_as
from simulators.ble.errors import AttError, AttErrorCode, ConnectionAborted
from simulators.ble.gatt_table import uuid_of
from simulators.ble.peripheral import Advertisement, Peripheral, characteristic
from simulators.devices.clock import Clock, DeviceClock, RealClock
from simulators.devices.faults import NO_FAULTS, FaultProfile, Faults
from simulators.devices.values import ValueSource, steady
from simulators.gatt import encode
from vigil.metrics import Metric

log = logging.getLogger(__name__)

BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
DEVICE_INFORMATION = 0x180A
MANUFACTURER_NAME = 0x2A29
MODEL_NUMBER = 0x2A24
SERIAL_NUMBER = 0x2A25
FIRMWARE_REVISION = 0x2A26
CURRENT_TIME_SERVICE = 0x1805
CURRENT_TIME = 0x2A2B
# Bluetooth SIG company identifier 0xFFFF is reserved for testing: no real vendor's data.
TEST_COMPANY_ID = 0xFFFF
# The longest the life loop sleeps between checks of battery, range windows and silence.
LIFE_TICK_S = 60.0
SENT_LOG_SIZE = 1000


@dataclass(frozen=True, slots=True)
class SentPacket:
    """One value the device put on the air (after faults), for tests and reports."""

    at: datetime  # true time
    uuid: int
    data: bytes
    delivered: bool


class EmulatedDevice:
    kind: ClassVar[str]
    service_uuid: ClassVar[int]
    model_number: ClassVar[str]
    default_name: ClassVar[str]
    # Does the profile let the client set the device clock (Current Time Service)?
    has_clock: ClassVar[bool] = True

    def __init__(
        self,
        address: str,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        values: ValueSource | None = None,
        faults: FaultProfile = NO_FAULTS,
        seed: int = 0,
        serial: str | None = None,
        manufacturer: str = "Vigil Simulated Devices",
        firmware: str = "1.4.2",
        rssi: int = -60,
        sent_log: int = SENT_LOG_SIZE,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.values: ValueSource = values or steady()
        self.fault_profile = faults
        self.faults = Faults(faults, seed, address)
        self.device_clock = DeviceClock(
            self.clock, offset_s=faults.clock_offset_s, drift_ppm=faults.clock_drift_ppm
        )
        self.serial = serial or address.replace(":", "").upper()
        self.battery = float(faults.battery_start)
        self.silent = False
        # The last `sent_log` packets put on the air (bounded: a demo device runs for days);
        # `sent_total` counts them all, so a reader can tell when the log has dropped some.
        self.sent: deque[SentPacket] = deque(maxlen=sent_log)
        self.sent_total = 0
        self._forced_out_of_range = False
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = self.clock.monotonic()
        self._peripheral = Peripheral(
            address,
            Advertisement(
                local_name=name or self.default_name,
                service_uuids=(uuid_of(self.service_uuid),),
                manufacturer_data={TEST_COMPANY_ID: self.serial.encode()[:8]},
                rssi=rssi,
            ),
        )
        self._peripheral.connect_gate = self._gate
        self._build()
        self._peripheral.add_service(
            BATTERY_SERVICE,
            [characteristic(BATTERY_LEVEL, "read", "notify", on_read=self._battery_value)],
        )
        self._peripheral.add_service(
            DEVICE_INFORMATION,
            [
                characteristic(MANUFACTURER_NAME, "read", value=manufacturer.encode()),
                characteristic(MODEL_NUMBER, "read", value=self.model_number.encode()),
                characteristic(SERIAL_NUMBER, "read", value=self.serial.encode()),
                characteristic(FIRMWARE_REVISION, "read", value=firmware.encode()),
            ],
        )
        if self.has_clock:
            self._peripheral.add_service(
                CURRENT_TIME_SERVICE,
                [
                    characteristic(
                        CURRENT_TIME,
                        "read",
                        "write",
                        on_read=self._current_time_value,
                        on_write=self._set_current_time,
                    )
                ],
            )
        # Advertise as the profile wants from the start, even before the room starts it.
        self.update_advertising()

    # -- the Hosted protocol -----------------------------------------------------------------

    @property
    def peripheral(self) -> Peripheral:
        return self._peripheral

    @property
    def address(self) -> str:
        return self._peripheral.address

    async def start(self) -> None:
        if self._tasks:
            return
        self._started_at = self.clock.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._life()), loop.create_task(self._run())]
        self.update_advertising()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._peripheral.drop_link("device stopped")

    def control(self, action: str, value: float | bool | None = None) -> None:
        """Operator/test controls (also reachable over `RoomControl`)."""
        if action == "measure":
            self.measure_now()
        elif action == "range":
            self._forced_out_of_range = not bool(value)
            self._apply_presence()
        elif action == "silent":
            self.go_silent()
        elif action == "disconnect":
            self._peripheral.drop_link("device ended the connection")
        elif action == "battery" and value is not None:
            self.set_battery(float(value))
        elif action == "clock" and value is not None:
            # Shift the device clock by `value` seconds (the patient fiddled with it).
            self.device_clock.set(self.device_clock.now() + timedelta(seconds=float(value)))
        else:
            raise ValueError(f"{self.kind} does not understand control {action!r} ({value!r})")

    # -- for subclasses ------------------------------------------------------------------------

    def _build(self) -> None:
        """Add the profile's service(s) to `self._peripheral`."""
        raise NotImplementedError

    async def _run(self) -> None:
        """The profile's behaviour while the device is on (measuring, streaming)."""

    def measure_now(self) -> None:
        """Take a measurement now (the patient pressed the button)."""
        raise ValueError(f"{self.kind} has no on-demand measurement")

    def wants_to_advertise(self) -> bool:
        return True

    # -- shared behaviour ----------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the device started."""
        return self.clock.monotonic() - self._started_at

    def update_advertising(self) -> None:
        wanted = not self.silent and self.wants_to_advertise()
        if wanted != self._peripheral.advertising:
            self._peripheral.set_advertising(wanted)

    def go_silent(self) -> None:
        """Stops advertising and sending for good (dead battery, in a drawer)."""
        if self.silent:
            return
        self.silent = True
        self._peripheral.drop_link("device went silent")
        self.update_advertising()

    def set_battery(self, level: float) -> None:
        before = int(self.battery)
        self.battery = max(0.0, min(100.0, level))
        if int(self.battery) != before:
            self.notify(BATTERY_LEVEL, BatteryLevel(battery_level=int(self.battery)), mangle=False)
        if self.battery <= 0:
            self.go_silent()

    def measured(self, metric: Metric, digits: int = 0) -> float:
        """The value source at the true time, rounded like the device's display."""
        return round(self.values(metric, self.clock.now()), digits)

    def _log_sent(self, packet: SentPacket) -> None:
        self.sent.append(packet)
        self.sent_total += 1

    def notify(self, uuid: int, value: GattValue | bytes, *, mangle: bool = True) -> bool:
        if self.silent:
            return False
        data = self._on_air(value, mangle)
        delivered = self._peripheral.notify(uuid, data)
        self._log_sent(SentPacket(self.clock.now(), uuid, data, delivered))
        if delivered and mangle and self.faults.should_drop():
            self._peripheral.drop_link("device dropped the link (fault)")
        return delivered

    async def indicate(self, uuid: int, value: GattValue | bytes, *, mangle: bool = True) -> bool:
        if self.silent:
            return False
        data = self._on_air(value, mangle)
        confirmed = await self._peripheral.indicate(uuid, data)
        self._log_sent(SentPacket(self.clock.now(), uuid, data, confirmed))
        if confirmed and mangle and self.faults.should_drop():
            self._peripheral.drop_link("device dropped the link (fault)")
        return confirmed

    def _on_air(self, value: GattValue | bytes, mangle: bool) -> bytes:
        data = value if isinstance(value, bytes) else encode(value)
        return self.faults.mangle(data) if mangle else data

    def _gate(self) -> None:
        if self.faults.should_refuse_connection():
            raise ConnectionAborted(self.address, "connection refused (fault)")

    def _battery_value(self) -> bytes:
        return encode(BatteryLevel(battery_level=int(self.battery)))

    def _current_time_value(self) -> bytes:
        now = self.device_clock.now()
        return encode(
            CurrentTime(
                year=now.year,
                month=now.month,
                day=now.day,
                hours=now.hour,
                minutes=now.minute,
                seconds=now.second,
                day_of_week=now.isoweekday(),
            )
        )

    def _set_current_time(self, data: bytes, _response: bool) -> None:
        try:
            written = decode_as(CurrentTime, data)
        except MalformedPacket as exc:
            raise AttError(AttErrorCode.VALUE_NOT_ALLOWED, exc.reason) from exc
        if written.timestamp is None:
            raise AttError(AttErrorCode.VALUE_NOT_ALLOWED, "date unknown")
        self.device_clock.set(written.timestamp)

    def _apply_presence(self) -> None:
        out = self._forced_out_of_range or self.fault_profile.out_of_range_at(self.elapsed)
        if out == self._peripheral.in_range:
            self._peripheral.set_in_range(not out)

    async def _life(self) -> None:
        profile = self.fault_profile
        while True:
            self._apply_presence()
            if profile.silent_after_s is not None and self.elapsed >= profile.silent_after_s:
                self.go_silent()
            drained = profile.battery_start - profile.battery_drain_per_day * self.elapsed / 86400
            if drained < self.battery:
                self.set_battery(drained)
            await self.clock.sleep(self._next_life_step())

    def _next_life_step(self) -> float:
        now = self.elapsed
        edges = [t for window in self.fault_profile.out_of_range for t in window]
        if self.fault_profile.silent_after_s is not None:
            edges.append(self.fault_profile.silent_after_s)
        upcoming = [t - now for t in edges if t > now]
        return min([LIFE_TICK_S, *upcoming])
