"""The device clock as one session sees it: read at connect, set when wrong, read back.

Mapping within a session (edge.clock states the policy): a stamp no later than the device
clock's reading at connect was made by the clock as it was then, and maps through the offset
observed then; a later stamp was made after the gateway set the clock (if it did), and maps
through the offset read back after setting it. The clock is checked before the session
subscribes to measurements, because store-and-forward devices start sending the moment the
subscription is written.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic

from edge.clock import ClockReading, naive_local
from edge.gatt import CurrentTime, MalformedPacket, decode, encode_current_time
from vigil.messages import DeviceEventKind

if TYPE_CHECKING:
    from edge.session import SessionContext

T = TypeVar("T")


class Refused:
    """What an optional GATT step returns when the device refused it."""


REFUSED = Refused()


class GattSteps(Protocol):
    """What the clock needs from its session."""

    client: BleakClient
    ctx: SessionContext

    async def optional(self, what: str, work: Awaitable[T]) -> T | Refused: ...

    def malformed(self, uuid: str | int, data: bytes | bytearray, reason: str) -> None: ...


class SessionClock:
    def __init__(self, steps: GattSteps) -> None:
        self._steps = steps
        self._ctx = steps.ctx
        self.at_connect: ClockReading | None = None
        self.after_set: ClockReading | None = None
        self._unknown = False

    async def check_and_set(self, char: BleakGATTCharacteristic) -> None:
        if "read" in char.properties:
            self.at_connect = await self.read(char, report=True)
        await self._maybe_set(char)

    async def read(self, char: BleakGATTCharacteristic, report: bool) -> ClockReading | None:
        raw = await self._steps.optional("read clock", self._steps.client.read_gatt_char(char))
        if isinstance(raw, Refused):
            return None
        now = self._ctx.recorder.now()
        try:
            value = decode(char.uuid, raw)
        except MalformedPacket as exc:
            self._steps.malformed(char.uuid, raw, exc.reason)
            return None
        if not isinstance(value, CurrentTime):
            return None
        if value.timestamp is None:
            self._unknown = True  # the device does not know the date: set it
            return None
        observed = ClockReading(
            value.timestamp.replace(microsecond=value.fractions256 * 1_000_000 // 256), now
        )
        if report:
            self._report_skew(observed)
        return observed

    def _report_skew(self, observed: ClockReading) -> None:
        policy, status = self._ctx.policy, self._ctx.status
        if not policy.is_skewed(observed):
            status.skew_reported_s = None
            return
        skew = policy.skew_s(observed)
        # Once per skew episode, not on every reconnect of a clock we cannot set.
        if status.skew_reported_s is None or \
                abs(skew - status.skew_reported_s) > policy.skew_threshold_s:
            status.skew_reported_s = skew
            self._ctx.recorder.event(
                DeviceEventKind.CLOCK_SKEW, self._ctx.device_id,
                detail=f"device clock is {abs(skew):.0f} s "
                       f"{'ahead of' if skew > 0 else 'behind'} gateway local time")

    async def _maybe_set(self, char: BleakGATTCharacteristic) -> None:
        observed = self.at_connect
        wrong = self._unknown if observed is None else \
            self._ctx.policy.needs_setting(observed)
        if not (self._ctx.set_device_clock and "write" in char.properties and wrong):
            return
        now = self._ctx.recorder.now()
        written = await self._steps.optional("set clock", self._steps.client.write_gatt_char(
            char, encode_current_time(naive_local(now, self._ctx.policy.tz),
                                      external_reference_time_update=True), response=True))
        if isinstance(written, Refused):
            return
        after = await self.read(char, report=False) if "read" in char.properties else None
        self.after_set = after or ClockReading(naive_local(now, self._ctx.policy.tz), now)
        was = "not set" if observed is None else \
            f"{self._ctx.policy.skew_s(observed):+.0f} s off"
        self._ctx.recorder.event(DeviceEventKind.CLOCK_SET, self._ctx.device_id,
                                detail=f"device clock set; it was {was}")

    def for_stamp(self, device_time: datetime) -> ClockReading | None:
        before, after = self.at_connect, self.after_set
        if after is None or (before is not None and device_time <= before.device_time):
            return before
        return after
