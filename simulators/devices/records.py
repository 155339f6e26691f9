"""Stored measurement records and the Record Access Control Point (0x2A52) that serves them.

Glucose Service 1.0 section 3.8 is the reference. Records carry a uint16 sequence number that
increases by one per stored record and is never reused (until it wraps at 65536, which no
emulation reaches). The supported operators on report / count / delete are All, <=, >=, within
range, first and last, with the sequence-number filter (0x01).

For the pulse oximeter the Spot-check Measurement has no sequence field: its store numbers
records the same way (storage index, from 0), and RACP's ">= n" selects by that index. Records
are always reported in index order, so a client that asked ">= n" and received k records has
seen indices n..n+k-1 and asks ">= n+k" next time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from edge.gatt.racp import RacpOpCode, RacpOperator, RacpResponseCode
from simulators.ble.errors import AttError, AttErrorCode
from simulators.ble.gatt_table import CCCD_INDICATE
from simulators.ble.peripheral import Peripheral
from simulators.gatt.racp import (
    InvalidRacpRequest,
    RacpRequest,
    number_of_records,
    parse_racp_request,
    response,
)

log = logging.getLogger(__name__)

V = TypeVar("V")
RACP_UUID = 0x2A52
FILTER_SEQUENCE_NUMBER = 0x01


@dataclass(frozen=True, slots=True)
class StoredRecord(Generic[V]):
    sequence: int
    value: V


class RecordStore(Generic[V]):
    """A device's measurement memory: oldest records fall out when it is full."""

    def __init__(self, capacity: int = 500) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._records: list[StoredRecord[V]] = []
        self._next = 0

    def add(self, make: Callable[[int], V]) -> StoredRecord[V]:
        """Store the value `make(sequence)` builds (glucose packets carry their sequence)."""
        record = StoredRecord(self._next, make(self._next))
        self._next = (self._next + 1) & 0xFFFF
        self._records.append(record)
        del self._records[: max(0, len(self._records) - self.capacity)]
        return record

    @property
    def records(self) -> list[StoredRecord[V]]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def delete(self, doomed: list[StoredRecord[V]]) -> None:
        gone = {r.sequence for r in doomed}
        self._records = [r for r in self._records if r.sequence not in gone]


def select(
    records: list[StoredRecord[V]], request: RacpRequest
) -> list[StoredRecord[V]] | RacpResponseCode:
    """The records a request's operator and operand pick, or the response code refusing it."""
    operator, operand = request.operator, request.operand
    if operator == RacpOperator.NULL:
        return RacpResponseCode.INVALID_OPERATOR
    if operator in (RacpOperator.ALL_RECORDS, RacpOperator.FIRST_RECORD, RacpOperator.LAST_RECORD):
        if operand:
            return RacpResponseCode.INVALID_OPERAND
        if operator == RacpOperator.ALL_RECORDS:
            return list(records)
        if not records:
            return []
        return [records[0] if operator == RacpOperator.FIRST_RECORD else records[-1]]
    if operator not in (
        RacpOperator.LESS_THAN_OR_EQUAL_TO,
        RacpOperator.GREATER_THAN_OR_EQUAL_TO,
        RacpOperator.WITHIN_RANGE_OF,
    ):
        return RacpResponseCode.INVALID_OPERATOR
    if not operand:
        return RacpResponseCode.INVALID_OPERAND
    if operand[0] != FILTER_SEQUENCE_NUMBER:
        return RacpResponseCode.OPERAND_NOT_SUPPORTED
    values = operand[1:]
    expected = 4 if operator == RacpOperator.WITHIN_RANGE_OF else 2
    if len(values) != expected:
        return RacpResponseCode.INVALID_OPERAND
    low = int.from_bytes(values[:2], "little")
    if operator == RacpOperator.LESS_THAN_OR_EQUAL_TO:
        return [r for r in records if r.sequence <= low]
    if operator == RacpOperator.GREATER_THAN_OR_EQUAL_TO:
        return [r for r in records if r.sequence >= low]
    high = int.from_bytes(values[2:], "little")
    if high < low:
        return RacpResponseCode.INVALID_OPERAND
    return [r for r in records if low <= r.sequence <= high]


# Sends one stored record to the client; False when it could not (link gone, not subscribed).
RecordSender = Callable[[StoredRecord[V]], Coroutine[Any, Any, bool]]


class RacpServer(Generic[V]):
    """The control point of one device: write a request, get records and then a response.

    Records go out on the measurement characteristic (`record_uuid`, notified or indicated),
    responses are indicated on RACP; both CCCDs must be enabled first (error 0xFD otherwise),
    and a second request while one runs gets 0xFE, except Abort.
    """

    def __init__(
        self,
        peripheral: Peripheral,
        store: RecordStore[V],
        *,
        record_uuid: int,
        record_cccd: int,
        send_record: RecordSender[V],
        indicate: Callable[[int, bytes], Coroutine[Any, Any, bool]],
    ) -> None:
        self._peripheral = peripheral
        self._store = store
        self._record_uuid = record_uuid
        self._record_cccd = record_cccd
        self._send_record = send_record
        self._indicate = indicate
        self._task: asyncio.Task[None] | None = None
        self.requests: list[RacpRequest] = []
        # A procedure dies with its link (the client must ask again after reconnecting).
        peripheral.disconnect_hooks.append(lambda _reason: self.cancel())

    def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def on_write(self, data: bytes, response_required: bool) -> None:
        if not self._peripheral.subscription(RACP_UUID) & CCCD_INDICATE:
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED, "enable RACP indications")
        try:
            request = parse_racp_request(data)
        except InvalidRacpRequest as exc:
            raise AttError(AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH, str(exc)) from exc
        self.requests.append(request)
        if request.op_code == RacpOpCode.ABORT_OPERATION:
            self._abort(request)
            return
        if self.busy:
            raise AttError(AttErrorCode.PROCEDURE_ALREADY_IN_PROGRESS)
        if (
            request.op_code == RacpOpCode.REPORT_STORED_RECORDS
            and not self._peripheral.subscription(self._record_uuid) & self._record_cccd
        ):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED, "enable the measurement CCCD")
        self._task = asyncio.get_running_loop().create_task(self._run(request))

    def _abort(self, request: RacpRequest) -> None:
        code = (
            RacpResponseCode.SUCCESS
            if request.operator == RacpOperator.NULL and not request.operand
            else RacpResponseCode.INVALID_OPERATOR
        )
        if code == RacpResponseCode.SUCCESS and self._task is not None:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._respond(request, code))

    async def _respond(self, request: RacpRequest, code: RacpResponseCode) -> None:
        await self._indicate(RACP_UUID, response(request.op_code, code))

    async def _run(self, request: RacpRequest) -> None:
        op = request.op_code
        if op not in (
            RacpOpCode.REPORT_STORED_RECORDS,
            RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
            RacpOpCode.DELETE_STORED_RECORDS,
        ):
            await self._respond(request, RacpResponseCode.OP_CODE_NOT_SUPPORTED)
            return
        chosen = select(self._store.records, request)
        if isinstance(chosen, RacpResponseCode):
            await self._respond(request, chosen)
            return
        if op == RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            await self._indicate(RACP_UUID, number_of_records(len(chosen)))
            return
        if op == RacpOpCode.DELETE_STORED_RECORDS:
            self._store.delete(chosen)
            await self._respond(request, RacpResponseCode.SUCCESS)
            return
        if not chosen:
            await self._respond(request, RacpResponseCode.NO_RECORDS_FOUND)
            return
        for record in chosen:
            if not await self._send_record(record):
                log.debug(
                    "record transfer stopped at %d: link or subscription gone", record.sequence
                )
                return
            await asyncio.sleep(0)  # one connection event per record: lets an Abort in
        await self._respond(request, RacpResponseCode.SUCCESS)
