"""Devices that take discrete measurements: on a schedule or when the patient presses the button.

`MeasuringDevice` keeps the schedule, the measurement memory and the advertising window (most
such devices advertise only for a while after a measurement, to save battery).

`StoreAndForwardDevice` is the blood-pressure-cuff / thermometer / scale pattern: when a client
connects and enables indications on the measurement characteristic, the device indicates every
stored measurement not yet delivered, oldest first, each one counted as delivered only once
confirmed, and then ends the link itself. A client that wants the device clock set must write
Current Time *before* enabling indications: the transfer starts on the CCCD write.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from edge.gatt import GattValue
from simulators.ble.gatt_table import CCCD_INDICATE, uuid_of
from simulators.devices.base import EmulatedDevice
from simulators.devices.records import RecordStore, StoredRecord
from vigil.metrics import Metric


class MeasuringDevice(EmulatedDevice):
    measurement_duration_s: ClassVar[float] = 0.0

    def __init__(
        self,
        address: str,
        *,
        every_s: float | None = None,
        first_after_s: float | None = None,
        advertise_window_s: float | None = 120.0,
        measurement_duration_s: float | None = None,
        capacity: int = 100,
        **kwargs: Any,
    ) -> None:
        """`every_s`: measure on this period (None: only on demand); `first_after_s`: when the
        first scheduled one happens (default: one period in); `advertise_window_s`: how long
        the device advertises after a measurement (None: always)."""
        self.every_s = every_s
        self.first_after_s = every_s if first_after_s is None else first_after_s
        self.advertise_window_s = advertise_window_s
        self.duration_s = (
            self.measurement_duration_s
            if measurement_duration_s is None
            else measurement_duration_s
        )
        self.store: RecordStore[GattValue] = RecordStore(capacity)
        self._last_measured: float | None = None
        self._measuring = False
        self._sampled: dict[Metric, float] = {}
        self._side_tasks: set[asyncio.Task[None]] = set()
        super().__init__(address, **kwargs)

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def stop(self) -> None:
        for task in list(self._side_tasks):
            task.cancel()
        await super().stop()

    def record(self, sequence: int) -> GattValue:
        """The measurement result to store under `sequence` (values at the true time, stamped
        with the device clock)."""
        raise NotImplementedError

    def sample(self, metric: Metric, digits: int = 0) -> float:
        """The value this measurement is converging on: asked of the value source once per
        measurement, so intermediate values and the stored result agree."""
        if metric not in self._sampled:
            self._sampled[metric] = self.measured(metric, digits)
        return self._sampled[metric]

    async def progress(self, second: int) -> None:
        """Called each second while measuring (intermediate values, if the profile has them)."""

    def measure_now(self) -> None:
        if not self.silent and not self._measuring:
            self.spawn(self.measure())

    async def measure(self) -> StoredRecord[GattValue] | None:
        if self.silent or self._measuring:
            return None
        self._measuring = True
        self._sampled = {}
        try:
            for second in range(int(self.duration_s)):
                await self.progress(second)
                await self.clock.sleep(1.0)
            stored = self.store.add(self.record)
        finally:
            self._measuring = False
        self._last_measured = self.elapsed
        self.on_stored(stored)
        self.update_advertising()
        if self.advertise_window_s is not None:
            self.spawn(self._end_window(self.advertise_window_s))
        return stored

    def on_stored(self, stored: StoredRecord[GattValue]) -> None:
        """A new record is in memory (send it live, if the profile does)."""

    async def _end_window(self, after: float) -> None:
        await self.clock.sleep(after)
        self.update_advertising()

    def in_advertise_window(self) -> bool:
        if self.advertise_window_s is None:
            return True
        last = self._last_measured
        return last is not None and self.elapsed - last < self.advertise_window_s

    def wants_to_advertise(self) -> bool:
        return self.in_advertise_window()

    async def _run(self) -> None:
        if self.every_s is None or self.first_after_s is None:
            return
        await self.clock.sleep(self.first_after_s)
        while True:
            started = self.elapsed
            await self.measure()
            await self.clock.sleep(max(0.0, self.every_s - (self.elapsed - started)))


class StoreAndForwardDevice(MeasuringDevice):
    measurement_uuid: ClassVar[int]
    subscribe_timeout_s: ClassVar[float] = 30.0

    def __init__(self, address: str, **kwargs: Any) -> None:
        # Sequence of the newest record a client has confirmed; records after it are pending.
        self.delivered_upto = -1
        self._session: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        super().__init__(address, **kwargs)
        self.peripheral.connect_hooks.append(self._on_connect)
        self.peripheral.disconnect_hooks.append(self._on_disconnect)
        self.peripheral.subscribe_hooks.append(self._on_subscribe)

    @property
    def pending(self) -> list[StoredRecord[GattValue]]:
        return [r for r in self.store.records if r.sequence > self.delivered_upto]

    def wants_to_advertise(self) -> bool:
        return bool(self.pending) and self.in_advertise_window()

    def _on_connect(self) -> None:
        self._subscribed = asyncio.Event()
        self._session = asyncio.get_running_loop().create_task(self._serve())

    def _on_disconnect(self, _reason: str) -> None:
        session, self._session = self._session, None
        if session is not None and session is not asyncio.current_task():
            session.cancel()
        # Advertising is re-evaluated once the link is really gone.
        asyncio.get_running_loop().call_soon(self.update_advertising)

    def _on_subscribe(self, uuid: str, value: int) -> None:
        if uuid == uuid_of(self.measurement_uuid) and value & CCCD_INDICATE:
            self._subscribed.set()

    async def _serve(self) -> None:
        if not await self._wait_subscribed():
            self.peripheral.drop_link("no indication subscription in time")
            return
        for record in self.pending:
            if not await self.indicate(self.measurement_uuid, record.value):
                return  # link gone or unsubscribed: the record stays pending
            self.delivered_upto = record.sequence
        # Everything delivered: the device ends the connection itself, like real cuffs.
        self.peripheral.drop_link("transfer complete")

    async def _wait_subscribed(self) -> bool:
        waiter = asyncio.ensure_future(self._subscribed.wait())
        timer = asyncio.ensure_future(self.clock.sleep(self.subscribe_timeout_s))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, timer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return self._subscribed.is_set()
