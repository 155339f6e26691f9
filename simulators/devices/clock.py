"""Time for emulated devices: the true time of the simulation, and each device's own clock.

`Clock` is what the simulation runs on: `RealClock` (wall time), `ManualClock` (moves only when a
test calls `advance`, so "a simulated hour" runs in well under a second) or `AcceleratedClock`
(runs N times faster than the event loop, for demos). All return aware UTC datetimes.

`DeviceClock` is what a device *believes* the time is: the true time plus an offset and a drift,
naive (device clocks carry no time zone), settable by a Current Time write like real hardware.
Readings stamped by a device carry its belief, which may be wrong; the agent has to cope.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

DEFAULT_EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
# Loop turns given to woken tasks between time steps in ManualClock.advance: enough for a
# device to send and an in-process client callback to run (each is one or two turns).
SETTLE_TURNS = 12


class Clock(Protocol):
    def now(self) -> datetime:
        """The true time, aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a steady scale (for intervals)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Simulated time that stands still until `advance` moves it.

    `advance(s)` walks through every sleeper's deadline in order, setting the time to exactly
    that deadline before waking it, and gives the loop a few turns after each step, so devices
    behave as if the time had really passed, deterministically.
    """

    def __init__(self, start: datetime = DEFAULT_EPOCH, *, settle_turns: int = SETTLE_TURNS):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self._settle_turns = settle_turns
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._elapsed + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._elapsed = max(self._elapsed, deadline)
            if not future.done():
                future.set_result(None)
                await self._settle()
        self._elapsed = target
        await self._settle()

    async def _settle(self) -> None:
        for _ in range(self._settle_turns):
            await asyncio.sleep(0)


class AcceleratedClock:
    """Simulated time running `factor` times faster than the event loop's clock."""

    def __init__(self, factor: float, start: datetime | None = None) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.factor

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)


class DeviceClock:
    """A device's own clock: true time + offset, running fast or slow by `drift_ppm`."""

    def __init__(self, clock: Clock, *, offset_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.clock = clock
        self.drift_ppm = drift_ppm
        self._anchor_true = clock.monotonic()
        self._anchor_device = clock.now().replace(tzinfo=None) + timedelta(seconds=offset_s)

    def now(self) -> datetime:
        """The device's belief of the current time (naive, whole seconds like its display)."""
        elapsed = self.clock.monotonic() - self._anchor_true
        believed = self._anchor_device + timedelta(seconds=elapsed * (1 + self.drift_ppm / 1e6))
        return believed.replace(microsecond=0)

    def set(self, device_time: datetime) -> None:
        """Set the clock (a Current Time write, or the user on the keypad); drift continues."""
        self._anchor_true = self.clock.monotonic()
        self._anchor_device = device_time.replace(tzinfo=None)

    @property
    def error(self) -> timedelta:
        """How far the device is off the true time (positive: device ahead)."""
        return self.now() - self.clock.now().replace(tzinfo=None, microsecond=0)
