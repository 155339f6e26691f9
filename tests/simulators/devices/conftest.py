"""Fixtures: a manual clock and an in-process room the local bleak backend sees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from simulators.ble import Room, local
from simulators.devices import EmulatedDevice, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def host() -> AsyncIterator[Callable[..., Awaitable[Room]]]:
    """`await host(*devices)` puts devices in a running room, stopped after the test."""
    rooms: list[Room] = []

    async def make(*devices: EmulatedDevice) -> Room:
        room = Room(devices)
        local.set_room(room)
        rooms.append(room)
        await room.start()
        return room

    yield make
    for room in rooms:
        await room.stop()
    local.set_room(Room())
