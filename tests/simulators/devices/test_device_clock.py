"""Simulation clocks and device clocks (offset, drift, set by Current Time)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from simulators.devices import AcceleratedClock, DeviceClock, ManualClock, RealClock

START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_in_deadline_order_at_their_deadline() -> None:
    clock = ManualClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 20), ("a", 5), ("c", 30))]
    await clock.advance(25)
    assert woke == [("a", 5.0), ("b", 20.0)]
    assert clock.now() == START + timedelta(seconds=25)
    await clock.advance(5)
    assert woke[-1] == ("c", 30.0)
    await asyncio.gather(*tasks)


async def test_manual_clock_runs_a_simulated_hour_of_periodic_work() -> None:
    clock = ManualClock(START)
    ticks = 0

    async def every_second() -> None:
        nonlocal ticks
        while True:
            await clock.sleep(1)
            ticks += 1

    task = asyncio.create_task(every_second())
    await clock.advance(3600)
    task.cancel()
    assert ticks == 3600


async def test_manual_clock_rejects_going_back_and_naive_starts() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="forward"):
        await ManualClock().advance(-1)


async def test_accelerated_and_real_clocks_move_forward() -> None:
    fast = AcceleratedClock(1000.0, start=START)
    before = fast.monotonic()
    await fast.sleep(5.0)  # 5 ms of loop time
    assert fast.monotonic() - before >= 5.0
    assert fast.now() >= START + timedelta(seconds=5)
    real = RealClock()
    assert real.now().tzinfo is UTC
    with pytest.raises(ValueError):
        AcceleratedClock(0)


@pytest.mark.parametrize(
    "offset_s, drift_ppm, after_s, expected_error_s",
    [
        (0, 0, 86400, 0),
        (-300, 0, 3600, -300),  # set five minutes slow
        (0, 500, 86400, 43.2),  # 500 ppm fast gains 43 s a day
        (120, -100, 86400, 120 - 8.64),
    ],
)
async def test_device_clock_offset_and_drift(
    offset_s: float, drift_ppm: float, after_s: float, expected_error_s: float
) -> None:
    clock = ManualClock(START)
    device = DeviceClock(clock, offset_s=offset_s, drift_ppm=drift_ppm)
    await clock.advance(after_s)
    assert abs(device.error.total_seconds() - expected_error_s) <= 1.0  # whole-second display
    assert device.now().tzinfo is None


async def test_setting_the_device_clock_keeps_its_drift() -> None:
    clock = ManualClock(START)
    device = DeviceClock(clock, offset_s=-3600, drift_ppm=1000)
    device.set(datetime(2025, 1, 6, 8, 0))
    assert device.error == timedelta(0)
    await clock.advance(1000)
    assert device.error == timedelta(seconds=1)
