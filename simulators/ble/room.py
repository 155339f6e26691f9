"""A room of emulated peripherals: what a gateway's radio can hear and connect to.

The room is the emulated radio environment. Scanners `watch` it; clients `connect` through it.
Devices that run their own behaviour (measurement schedules, faults) are `Hosted` objects
owning a `Peripheral`; the room starts and stops them with itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from simulators.ble.errors import DeviceUnavailable
from simulators.ble.peripheral import Peripheral, Sighting

# How often an active scan re-reports a device that keeps advertising. Real devices advertise
# every 20 ms..10 s; one report a second keeps `advertisement_data()` consumers fed cheaply.
DEFAULT_REPORT_INTERVAL_S = 1.0


@runtime_checkable
class Hosted(Protocol):
    """A device emulator: a peripheral plus behaviour that runs while the room is up."""

    @property
    def kind(self) -> str: ...

    @property
    def peripheral(self) -> Peripheral: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def control(self, action: str, value: float | bool | None = None) -> None:
        """Test/operator controls, e.g. `measure`, `range`, `silent`, `disconnect`."""
        ...


class Room:
    def __init__(
        self,
        devices: Iterable[Peripheral | Hosted] = (),
        *,
        report_interval: float = DEFAULT_REPORT_INTERVAL_S,
    ) -> None:
        self.report_interval = report_interval
        self._peripherals: dict[str, Peripheral] = {}
        self._hosted: dict[str, Hosted] = {}
        self._started = False
        self._watchers: list[Callable[[Sighting], None]] = []
        self._unobserve: dict[str, Callable[[], None]] = {}
        for device in devices:
            self.add(device)

    def add(self, device: Peripheral | Hosted) -> None:
        peripheral = device if isinstance(device, Peripheral) else device.peripheral
        if peripheral.address in self._peripherals:
            raise ValueError(f"address {peripheral.address} already in the room")
        self._peripherals[peripheral.address] = peripheral
        self._unobserve[peripheral.address] = peripheral.observe(self._on_change)
        if not isinstance(device, Peripheral):
            self._hosted[peripheral.address] = device

    def remove(self, address: str) -> None:
        """The device leaves the room entirely (e.g. the patient took it away)."""
        peripheral = self._peripherals.pop(address.upper())
        self._hosted.pop(peripheral.address, None)
        self._unobserve.pop(peripheral.address)()
        peripheral.drop_link("device removed")

    @property
    def peripherals(self) -> list[Peripheral]:
        return list(self._peripherals.values())

    @property
    def hosted(self) -> list[Hosted]:
        return list(self._hosted.values())

    def get(self, address: str) -> Peripheral:
        try:
            return self._peripherals[address.upper()]
        except KeyError:
            raise DeviceUnavailable(address, "no such device in range") from None

    def device(self, address: str) -> Hosted:
        try:
            return self._hosted[address.upper()]
        except KeyError:
            raise DeviceUnavailable(address, "no such emulated device") from None

    def visible(self) -> list[Sighting]:
        return [
            Sighting(p.address, p.advertisement) for p in self._peripherals.values() if p.visible
        ]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for device in self._hosted.values():
            await device.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for device in self._hosted.values():
            await device.stop()

    async def __aenter__(self) -> Room:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def watch(self, report: Callable[[Sighting], None]) -> Callable[[], None]:
        """Report every visible device now, on every change, and again each report interval.

        Reports run from the event loop (as a radio's would), never inside the device code
        that changed its advertising, and never after the returned stop function was called.
        """
        loop = asyncio.get_running_loop()
        active = True

        def deliver(sighting: Sighting) -> None:
            if active:
                report(sighting)

        def schedule(sighting: Sighting) -> None:
            loop.call_soon(deliver, sighting)

        self._watchers.append(schedule)
        for sighting in self.visible():
            schedule(sighting)

        async def repeat() -> None:
            while True:
                await asyncio.sleep(self.report_interval)
                for sighting in self.visible():
                    deliver(sighting)

        task = loop.create_task(repeat())

        def stop() -> None:
            nonlocal active
            active = False
            task.cancel()
            if schedule in self._watchers:
                self._watchers.remove(schedule)

        return stop

    def _on_change(self, peripheral: Peripheral) -> None:
        if peripheral.visible and self._peripherals.get(peripheral.address) is peripheral:
            sighting = Sighting(peripheral.address, peripheral.advertisement)
            for schedule in list(self._watchers):
                schedule(sighting)

    def connect(self, address: str) -> Peripheral:
        """The peripheral to connect to, or DeviceUnavailable as a radio would report it."""
        peripheral = self.get(address)
        if not peripheral.in_range:
            raise DeviceUnavailable(peripheral.address, "out of range")
        return peripheral
