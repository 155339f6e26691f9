"""One connection to one device: set it up, turn its notifications into committed readings,
and return when the link ends.

Setup order (each step's reason):
1. check the profile's measurement characteristics exist (else ProfileMismatch: permanent);
2. read Battery Level, and Device Information on the first connection (for the heartbeat and
   the CONNECTED event);
3. read the device clock, and set it when it is off and writable -- before subscribing,
   because store-and-forward devices (cuffs, thermometers, scales) start sending their stored
   records the moment the subscription is written and end the link when done;
4. subscribe to the measurement characteristics;
5. fetch stored records through RACP, asking only for records after the last one committed
   (persisted in the outbox database in the same transaction as the record's readings).
A packet that does not decode becomes a MALFORMED_PACKET event with its raw bytes; the session
carries on.
The device clock is checked and set by edge.session_clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.service import BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError

from edge.clock import ClockPolicy
from edge.failures import ProfileMismatch
from edge.gatt import (
    BatteryLevel,
    GlucoseMeasurement,
    MalformedPacket,
    Measurement,
    PlxSpotCheck,
    RacpResponse,
    RacpResponseCode,
    convert,
    decode,
    report_all_records,
    report_records_from,
)
from edge.profiles import (
    BATTERY_LEVEL,
    CURRENT_TIME,
    DEVICE_INFORMATION_CHARS,
    PROFILES,
    RACP,
    Profile,
)
from edge.profiles import Measurement as MeasurementChar
from edge.recorder import Recorder
from edge.session_clock import REFUSED, Refused, SessionClock
from vigil.messages import DeviceEventKind, Origin, Reading
from vigil.quality import QualityFlag

log = logging.getLogger("edge.session")
T = TypeVar("T")

# A RACP transfer is over when the device answers; give up if it goes quiet this long.
RACP_IDLE_TIMEOUT_S = 15.0
MAX_SEQUENCE = 0xFFFF
# Answers to a ">= n" request from a device that only supports "all records".
_UNSUPPORTED_FILTER = frozenset({RacpResponseCode.OPERATOR_NOT_SUPPORTED,
                                 RacpResponseCode.OPERAND_NOT_SUPPORTED,
                                 RacpResponseCode.INVALID_OPERATOR})


@dataclass
class DeviceStatus:
    """What the heartbeat reports about a device (mutated by its supervisor and session)."""

    connected: bool = False
    last_seen: datetime | None = None
    battery_level: int | None = None
    rssi: int | None = None
    skew_reported_s: float | None = None
    # Device Information, read on the first connection of this run (it does not change, and
    # every read costs a radio round trip and the device's battery).
    info: str | None = None


@dataclass(frozen=True)
class SessionContext:
    device_id: str
    profile: Profile
    recorder: Recorder
    policy: ClockPolicy
    set_device_clock: bool
    late_after_s: float
    status: DeviceStatus
    # Called with the receipt time of every decoded measurement (the silence watchdog).
    heard: Callable[[datetime], None]


class Characteristics:
    """A connection's characteristics by their UUID (as bleak reports it), indexed in one pass:
    bleak's get_characteristic normalises the UUID and scans every characteristic on each call.
    Same answers: None when absent, BleakError when the UUID is not unique."""

    def __init__(self, services: BleakGATTServiceCollection) -> None:
        self._by_uuid: dict[str, BleakGATTCharacteristic] = {}
        self._repeated: set[str] = set()
        for char in services.characteristics.values():
            if char.uuid in self._by_uuid:
                self._repeated.add(char.uuid)
            self._by_uuid.setdefault(char.uuid, char)

    def get(self, uuid: str) -> BleakGATTCharacteristic | None:
        if uuid in self._repeated:
            raise BleakError(f"Multiple Characteristics with this UUID ({uuid}), refer to your "
                             "desired characteristic by the `handle` attribute instead.")
        return self._by_uuid.get(uuid)


class Session:
    def __init__(self, client: BleakClient, ctx: SessionContext) -> None:
        self.client = client
        self.ctx = ctx
        self.chars = Characteristics(client.services)
        self.clock = SessionClock(self)
        self._racp_active = False
        # Storage index of the next record of a RACP transfer, for records without their own
        # sequence number (PLX spot checks): ">= n" returns n, n+1, ... in order.
        self._racp_next: int | None = None
        self._racp_responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._last_activity = time.monotonic()
        self.delivered = 0

    # --- setup ------------------------------------------------------------------------------

    async def run(self, disconnected: asyncio.Event) -> None:
        chars = self.chars
        spec = PROFILES[self.ctx.profile]
        present = [(m, c) for m in spec.measurements if (c := chars.get(m.uuid)) is not None]
        if not present:
            raise ProfileMismatch(
                f"{self.ctx.device_id} offers none of the {spec.profile.value} measurement "
                f"characteristics; was it paired as the wrong profile?"
            )
        info = await self._device_information()
        await self._battery()
        clock_char = chars.get(CURRENT_TIME)
        if clock_char is not None:
            await self.clock.check_and_set(clock_char)
        self.ctx.status.connected = True
        self.ctx.recorder.event(DeviceEventKind.CONNECTED, self.ctx.device_id,
                                detail=info or None)
        for measurement, char in present:
            await self.client.start_notify(char, self._on_measurement(measurement))
        racp = chars.get(RACP)
        if spec.racp and racp is not None:
            await self._fetch_stored(racp)
            if not spec.hold_connection:
                return
        await disconnected.wait()

    async def optional(self, what: str, work: Awaitable[T]) -> T | Refused:
        """A step the session can do without: a device refusing it (an ATT error) is logged,
        not fatal. A lost link still ends the session (BleakError "Not connected")."""
        try:
            return await work
        except BleakGATTProtocolError as exc:
            log.warning("device refused an optional step", extra={
                "device": self.ctx.device_id, "step": what, "error": str(exc)})
            return REFUSED

    async def _device_information(self) -> str:
        if self.ctx.status.info is not None:
            return self.ctx.status.info
        parts = []
        for uuid in DEVICE_INFORMATION_CHARS:
            char = self.chars.get(uuid)
            if char is None or "read" not in char.properties:
                continue
            raw = await self.optional("device information", self.client.read_gatt_char(char))
            if not isinstance(raw, Refused):
                parts.append(bytes(raw).decode("utf-8", "replace").strip("\x00 "))
        self.ctx.status.info = " / ".join(p for p in parts if p)[:1000]
        return self.ctx.status.info

    async def _battery(self) -> None:
        char = self.chars.get(BATTERY_LEVEL)
        if char is None:
            return
        if "read" in char.properties:
            level = await self.optional("battery", self.client.read_gatt_char(char))
            if not isinstance(level, Refused):
                self._on_battery(char, level)
        if "notify" in char.properties:
            await self.optional("battery", self.client.start_notify(char, self._on_battery))

    def _on_battery(self, char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            value = decode(char.uuid, data)
        except MalformedPacket as exc:
            self.malformed(char.uuid, data, exc.reason)
            return
        if not isinstance(value, BatteryLevel):
            return
        level = value.battery_level
        if level != self.ctx.status.battery_level:
            self.ctx.status.battery_level = level
            self.ctx.recorder.event(DeviceEventKind.BATTERY, self.ctx.device_id,
                                    battery_level=level)

    # --- stored records -----------------------------------------------------------------------

    async def _fetch_stored(self, racp: BleakGATTCharacteristic) -> None:
        subscribed = await self.optional("stored records",
                                          self.client.start_notify(racp, self._on_racp))
        if isinstance(subscribed, Refused):
            return
        last = self.ctx.recorder.outbox.last_sequence(self.ctx.device_id)
        if last is None or last >= MAX_SEQUENCE:  # first contact, or the counter wrapped
            response = await self._racp_request(racp, report_all_records(), first_index=0)
        else:
            response = await self._racp_request(racp, report_records_from(last + 1), last + 1)
            if response is not None and response.response_code in _UNSUPPORTED_FILTER:
                response = await self._racp_request(racp, report_all_records(), None)
        if response is None:
            log.warning("stored-record transfer went quiet", extra={"device": self.ctx.device_id})
        elif response.response_code not in (RacpResponseCode.SUCCESS,
                                            RacpResponseCode.NO_RECORDS_FOUND):
            log.warning("device refused the stored-record request",
                        extra={"device": self.ctx.device_id,
                               "response": response.response_code.name})

    async def _racp_request(
        self, racp: BleakGATTCharacteristic, request: bytes, first_index: int | None
    ) -> RacpResponse | None:
        self._racp_active = True
        self._racp_next = first_index
        self._last_activity = time.monotonic()
        try:
            written = await self.optional("stored records", self.client.write_gatt_char(
                racp, request, response=True))
            if isinstance(written, Refused):
                return None
            return await self._racp_response()
        finally:
            self._racp_active = False
            self._racp_next = None

    async def _racp_response(self) -> RacpResponse | None:
        while True:
            idle = time.monotonic() - self._last_activity
            if idle > RACP_IDLE_TIMEOUT_S:
                return None
            try:
                async with asyncio.timeout(RACP_IDLE_TIMEOUT_S - idle):
                    raw = await self._racp_responses.get()
            except TimeoutError:
                continue
            try:
                value = decode(RACP, raw)
            except MalformedPacket as exc:
                self.malformed(RACP, raw, exc.reason)
                continue
            if isinstance(value, RacpResponse):
                return value

    def _on_racp(self, char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._last_activity = time.monotonic()
        self._racp_responses.put_nowait(bytes(data))

    # --- measurements -----------------------------------------------------------------------

    def _on_measurement(
        self, measurement: MeasurementChar
    ) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def handle(char: BleakGATTCharacteristic, data: bytearray) -> None:
            self._last_activity = time.monotonic()
            try:
                self._record(measurement, char.uuid, bytes(data))
            except MalformedPacket as exc:
                self.malformed(char.uuid, data, exc.reason)
            except Exception as exc:
                # A bug or a storage failure: keep the bytes on record and keep supervising.
                log.exception("measurement not recorded", extra={"device": self.ctx.device_id})
                self.ctx.recorder.event(
                    DeviceEventKind.ERROR, self.ctx.device_id,
                    detail=f"measurement not recorded: {exc!r}"[:1000],
                    raw_hex=bytes(data).hex()[:2048])

        return handle

    def _record(self, measurement: MeasurementChar, uuid: str, data: bytes) -> None:
        received_at = self.ctx.recorder.now()
        value = decode(uuid, data)
        if not isinstance(value, Measurement):
            raise MalformedPacket(f"{type(value).__name__} is not a measurement")
        device_time: datetime | None = getattr(value, "timestamp", None)
        if getattr(value, "device_clock_not_set", False):
            device_time = None
        observed = None if device_time is None else self.clock.for_stamp(device_time)
        stamped = self.ctx.policy.measured_at(device_time, received_at, observed)
        try:
            conversion = convert(value, device_id=self.ctx.device_id, received_at=received_at,
                                 measured_at=stamped.measured_at,
                                 origin=self._origin(stamped.measured_at, received_at))
        except ValueError as exc:  # a value the contract refuses
            raise MalformedPacket(f"cannot become a reading: {exc}") from exc
        readings = [self._with_flags(r, stamped.flags) for r in conversion.readings]
        for skipped in conversion.skipped:
            log.info("value skipped", extra={"device": self.ctx.device_id,
                                             "metric": skipped.metric, "reason": skipped.reason})
        self.ctx.recorder.readings(readings, continuous=measurement.continuous,
                                   sequence=self._sequence_of(value))
        self.delivered += len(readings)
        self.ctx.status.last_seen = received_at
        self.ctx.heard(received_at)

    def _sequence_of(self, value: Measurement) -> tuple[str, int] | None:
        """The stored-record position to persist with this record's readings, if any."""
        if isinstance(value, GlucoseMeasurement):
            return (self.ctx.device_id, value.sequence_number)
        if isinstance(value, PlxSpotCheck) and self._racp_active and self._racp_next is not None:
            index, self._racp_next = self._racp_next, self._racp_next + 1
            return (self.ctx.device_id, index)
        return None

    def _origin(self, measured_at: datetime, received_at: datetime) -> Origin:
        # A record that was already old when it reached the gateway is not live: it came from
        # the device's memory (RACP, or a cuff indicating what it stored while out of range).
        if self._racp_active:
            return Origin.STORED
        if (received_at - measured_at).total_seconds() > self.ctx.late_after_s:
            return Origin.STORED
        return Origin.LIVE

    @staticmethod
    def _with_flags(reading: Reading, flags: tuple[QualityFlag, ...]) -> Reading:
        if QualityFlag.FROM_MEASUREMENT_STORAGE in reading.quality and \
                reading.origin is Origin.LIVE:
            reading = reading.model_copy(update={"origin": Origin.STORED})
        if not flags:
            return reading
        return reading.model_copy(update={"quality": tuple(sorted(set(reading.quality) |
                                                                  set(flags)))})

    def malformed(self, uuid: str | int, data: bytes | bytearray, reason: str) -> None:
        raw = bytes(data).hex()
        self.ctx.recorder.event(
            DeviceEventKind.MALFORMED_PACKET, self.ctx.device_id,
            detail=f"characteristic {uuid}: {reason}"[:1000], raw_hex=raw[:2048])
