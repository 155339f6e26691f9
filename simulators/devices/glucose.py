"""Glucose meter (Glucose Service 0x1808), the canonical RACP device.

Each finger-stick is stored with a sequence number and the device's base time. A client enables
notifications on Glucose Measurement (0x2A18) and indications on RACP (0x2A52), then writes a
request: "report stored records >= sequence", "report number of stored records", "delete", or
"abort". Records arrive as notifications, then a RACP response is indicated. The meter
advertises for a while after each measurement and drops an idle link after `idle_timeout_s`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from edge.gatt import GattValue, GlucoseMeasurement
from simulators.ble.gatt_table import CCCD_NOTIFY
from simulators.ble.peripheral import characteristic
from simulators.devices.measuring import MeasuringDevice
from simulators.devices.records import RACP_UUID, RacpServer, StoredRecord
from vigil.metrics import Metric

GLUCOSE_SERVICE = 0x1808
GLUCOSE_MEASUREMENT = 0x2A18
GLUCOSE_FEATURE = 0x2A51
# Feature bits: low battery detection, sensor malfunction, sample size, strip insertion error.
FEATURES = 0x000F
LOW_BATTERY_PERCENT = 10
MMOL_PER_MOL = 1000.0


class GlucoseMeter(MeasuringDevice):
    kind = "glucose_meter"
    service_uuid = GLUCOSE_SERVICE
    model_number = "VGM-10"
    default_name = "Vigil Glucose"
    measurement_duration_s = 5.0

    def __init__(self, address: str, *, idle_timeout_s: float = 30.0, **kwargs: Any) -> None:
        self.idle_timeout_s = idle_timeout_s
        self._activity = 0
        self._idle_watch: asyncio.Task[None] | None = None
        super().__init__(address, **kwargs)
        self.peripheral.connect_hooks.append(self._on_connect)
        self.peripheral.disconnect_hooks.append(self._on_disconnect)
        self.peripheral.subscribe_hooks.append(lambda _uuid, _value: self._touch())

    def _build(self) -> None:
        self.racp: RacpServer[GattValue] = RacpServer(
            self.peripheral,
            self.store,
            record_uuid=GLUCOSE_MEASUREMENT,
            record_cccd=CCCD_NOTIFY,
            send_record=self._send_record,
            indicate=self._indicate_response,
        )
        self.peripheral.add_service(
            GLUCOSE_SERVICE,
            [
                characteristic(GLUCOSE_MEASUREMENT, "notify"),
                characteristic(GLUCOSE_FEATURE, "read", value=FEATURES.to_bytes(2, "little")),
                characteristic(RACP_UUID, "write", "indicate", on_write=self._racp_write),
            ],
        )

    def _racp_write(self, data: bytes, response: bool) -> None:
        self._touch()
        self.racp.on_write(data, response)

    async def _send_record(self, record: StoredRecord[GattValue]) -> bool:
        self._touch()
        return self.notify(GLUCOSE_MEASUREMENT, record.value)

    async def _indicate_response(self, uuid: int, data: bytes) -> bool:
        self._touch()
        return await self.indicate(uuid, data, mangle=False)

    def record(self, sequence: int) -> GattValue:
        mmol = self.sample(Metric.BLOOD_GLUCOSE, 1)
        return GlucoseMeasurement(
            sequence_number=sequence,
            base_time=self.device_clock.now(),
            time_offset=0,
            concentration=round(mmol / MMOL_PER_MOL, 5),
            unit="mol/L",
            sample_type="capillary_whole_blood",
            sample_location="finger",
            sensor_status=(
                frozenset({"device_battery_low"}) if self.battery < LOW_BATTERY_PERCENT else None
            ),
        )

    # -- idle link timeout -------------------------------------------------------------------

    def _touch(self) -> None:
        self._activity += 1

    def _on_connect(self) -> None:
        self._touch()
        self._idle_watch = asyncio.get_running_loop().create_task(self._watch_idle())

    def _on_disconnect(self, _reason: str) -> None:
        watch, self._idle_watch = self._idle_watch, None
        if watch is not None and watch is not asyncio.current_task():
            watch.cancel()
        asyncio.get_running_loop().call_soon(self.update_advertising)

    async def _watch_idle(self) -> None:
        while True:
            seen = self._activity
            await self.clock.sleep(self.idle_timeout_s)
            if self._activity == seen and not self.racp.busy:
                self.peripheral.drop_link("idle timeout")
                return
