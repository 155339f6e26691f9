"""The bleak scanner backend over an emulated room, shared by both transports."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner

from simulators.ble.peripheral import Sighting

StopWatching = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EmulatedDeviceDetails:
    """`BLEDevice.details` for an emulated device.

    Deliberately not a dict with a "path": bleak-retry-connector then treats the device as a
    non-BlueZ one and never touches D-Bus.
    """

    address: str
    transport: str


class EmulatedScanner(BaseBleakScanner, abc.ABC):
    transport = "emulated"

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._stop: StopWatching | None = None

    @abc.abstractmethod
    async def _watch(self, report: Callable[[Sighting], None]) -> StopWatching:
        """Start delivering sightings to `report`; return the coroutine function that stops."""

    async def start(self) -> None:
        if self._stop is not None:
            await self.stop()
        self.seen_devices = {}
        self._stop = await self._watch(self._report)

    async def stop(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            await stop()

    def _report(self, sighting: Sighting) -> None:
        adv = sighting.advertisement
        if not self.is_allowed_uuid(list(adv.service_uuids)):
            return
        data = AdvertisementData(
            local_name=adv.local_name,
            manufacturer_data=dict(adv.manufacturer_data),
            service_data=dict(adv.service_data),
            service_uuids=list(adv.service_uuids),
            tx_power=adv.tx_power,
            rssi=adv.rssi,
            platform_data=(sighting,),
        )
        device = self.create_or_update_device(
            sighting.address,
            sighting.address,
            adv.local_name,
            EmulatedDeviceDetails(sighting.address, self.transport),
            data,
        )
        self.call_detection_callbacks(device, data)
