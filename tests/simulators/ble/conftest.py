"""Fixtures: a small room of plain peripherals, installed as the local backend's room."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ble_room import Gadget, battery_only

from simulators.ble import Room, local


@pytest.fixture
def gadget() -> Gadget:
    return Gadget()


@pytest.fixture
def room(gadget: Gadget) -> Iterator[Room]:
    room = Room([gadget.peripheral, battery_only()], report_interval=0.05)
    local.set_room(room)
    yield room
    local.set_room(Room())
