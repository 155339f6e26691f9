"""Pulse oximeter (Pulse Oximeter Service 0x1822).

Streams PLX Continuous Measurement (0x2A5F) once a second to a subscribed client, takes a
spot-check (0x2A5E) on its schedule or on demand, stores it (timestamped with its own clock) and
indicates it live to a subscribed client. Stored spot-checks are served over RACP (0x2A52),
indicated on 0x2A5E; see `simulators.devices.records` for how ">= n" keys records without a
sequence field. Always advertises while on and not connected (a continuous monitor).
"""

from __future__ import annotations

from typing import Any

from edge.gatt import GattValue, PlxContinuous, PlxFeatures, PlxSpotCheck
from simulators.ble.gatt_table import CCCD_INDICATE, CCCD_NOTIFY
from simulators.ble.peripheral import characteristic
from simulators.devices.measuring import MeasuringDevice
from simulators.devices.records import RACP_UUID, RacpServer, StoredRecord
from simulators.gatt import encode
from vigil.metrics import Metric

PULSE_OXIMETER_SERVICE = 0x1822
PLX_SPOT_CHECK = 0x2A5E
PLX_CONTINUOUS = 0x2A5F
PLX_FEATURES = 0x2A60
FEATURES = PlxFeatures(timestamp_supported=True, measurement_storage_supported=True)


class PulseOximeter(MeasuringDevice):
    kind = "pulse_oximeter"
    service_uuid = PULSE_OXIMETER_SERVICE
    model_number = "VPO-100"
    default_name = "Vigil PLX"

    def __init__(
        self,
        address: str,
        *,
        continuous_interval_s: float = 1.0,
        every_s: float | None = 900.0,
        advertise_window_s: float | None = None,
        capacity: int = 200,
        **kwargs: Any,
    ) -> None:
        """`every_s`: spot-check period (None: only on demand)."""
        self.continuous_interval_s = continuous_interval_s
        super().__init__(
            address,
            every_s=every_s,
            advertise_window_s=advertise_window_s,
            capacity=capacity,
            **kwargs,
        )

    def _build(self) -> None:
        self.racp: RacpServer[GattValue] = RacpServer(
            self.peripheral,
            self.store,
            record_uuid=PLX_SPOT_CHECK,
            record_cccd=CCCD_INDICATE,
            send_record=self._send_record,
            indicate=self._indicate_response,
        )
        self.peripheral.add_service(
            PULSE_OXIMETER_SERVICE,
            [
                characteristic(PLX_SPOT_CHECK, "indicate"),
                characteristic(PLX_CONTINUOUS, "notify"),
                characteristic(PLX_FEATURES, "read", value=encode(FEATURES)),
                characteristic(RACP_UUID, "write", "indicate", on_write=self.racp.on_write),
            ],
        )

    async def _send_record(self, record: StoredRecord[GattValue]) -> bool:
        return await self.indicate(PLX_SPOT_CHECK, record.value)

    async def _indicate_response(self, uuid: int, data: bytes) -> bool:
        return await self.indicate(uuid, data, mangle=False)

    def record(self, sequence: int) -> GattValue:
        return PlxSpotCheck(
            spo2=self.sample(Metric.SPO2),
            pulse_rate=self.sample(Metric.PULSE_RATE),
            timestamp=self.device_clock.now(),
        )

    def on_stored(self, stored: StoredRecord[GattValue]) -> None:
        if self.peripheral.subscription(PLX_SPOT_CHECK) & CCCD_INDICATE:
            self.spawn(self.indicate(PLX_SPOT_CHECK, stored.value))

    def continuous(self) -> PlxContinuous:
        return PlxContinuous(
            spo2=self.measured(Metric.SPO2), pulse_rate=self.measured(Metric.PULSE_RATE)
        )

    async def _run(self) -> None:
        self.spawn(self._stream())
        await super()._run()

    async def _stream(self) -> None:
        while True:
            await self.clock.sleep(self.continuous_interval_s)
            if self.peripheral.subscription(PLX_CONTINUOUS) & CCCD_NOTIFY:
                self.notify(PLX_CONTINUOUS, self.continuous())
