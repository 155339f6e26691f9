"""Record Access Control Point (0x2A52): the requests the gateway writes and the responses the
device indicates (Glucose Service 1.0 section 3.8, also used by the Pulse Oximeter and
Continuous Glucose Monitoring services).

A request is op code, operator, then an operand (for "greater than or equal to": filter type
0x01 = sequence number, then the uint16 value). The device answers either "Number of Stored
Records" (op 5, operator Null, uint16 count) or "Response Code" (op 6, operator Null, the
request op code and a response code value). Any other op code or a non-Null operator in an
indication is malformed.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import Field

from edge.gatt.errors import MalformedPacket
from edge.gatt.model import GattValue
from edge.gatt.reader import PacketReader


class RacpOpCode(IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class RacpOperator(IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL_TO = 0x02
    GREATER_THAN_OR_EQUAL_TO = 0x03
    WITHIN_RANGE_OF = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class RacpResponseCode(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


FILTER_SEQUENCE_NUMBER = 0x01
_UINT16 = Annotated[int, Field(ge=0, le=0xFFFF)]


class RacpNumberOfRecords(GattValue):
    uuid = 0x2A52
    count: _UINT16


class RacpResponse(GattValue):
    uuid = 0x2A52
    # The op code of the request answered; kept as the raw byte since a device may answer
    # "op code not supported" to a value we do not name.
    request_op_code: Annotated[int, Field(ge=0, le=0xFF)]
    response_code: RacpResponseCode

    @property
    def success(self) -> bool:
        return self.response_code is RacpResponseCode.SUCCESS


def decode_racp(reader: PacketReader) -> RacpNumberOfRecords | RacpResponse:
    op_code = reader.u8("op code")
    operator = reader.u8("operator")
    if op_code not in (
        RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE,
        RacpOpCode.RESPONSE_CODE,
    ):
        raise MalformedPacket(f"op code 0x{op_code:02X} is not a RACP response")
    if operator != RacpOperator.NULL:
        raise MalformedPacket(f"a RACP response has operator Null, not 0x{operator:02X}")
    if op_code == RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        count = reader.u16("number of stored records")
        reader.finish()
        return RacpNumberOfRecords(count=count)
    request = reader.u8("request op code")
    code = reader.u8("response code value")
    reader.finish()
    try:
        response_code = RacpResponseCode(code)
    except ValueError:
        raise MalformedPacket(f"RACP response code 0x{code:02X} is reserved") from None
    return RacpResponse(request_op_code=request, response_code=response_code)


def _request(op: RacpOpCode, operator: RacpOperator, operand: bytes = b"") -> bytes:
    return bytes((op, operator)) + operand


def _from_sequence(sequence_number: int) -> bytes:
    if not 0 <= sequence_number <= 0xFFFF:
        raise ValueError(f"sequence number {sequence_number} is not a uint16")
    return bytes((FILTER_SEQUENCE_NUMBER,)) + sequence_number.to_bytes(2, "little")


def report_all_records() -> bytes:
    return _request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def report_records_from(sequence_number: int) -> bytes:
    """Records whose sequence number is >= `sequence_number` (resume after the last seen)."""
    return _request(
        RacpOpCode.REPORT_STORED_RECORDS,
        RacpOperator.GREATER_THAN_OR_EQUAL_TO,
        _from_sequence(sequence_number),
    )


def report_number_of_records() -> bytes:
    return _request(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def report_number_of_records_from(sequence_number: int) -> bytes:
    return _request(
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        RacpOperator.GREATER_THAN_OR_EQUAL_TO,
        _from_sequence(sequence_number),
    )


def abort_operation() -> bytes:
    return _request(RacpOpCode.ABORT_OPERATION, RacpOperator.NULL)


def delete_all_records() -> bytes:
    return _request(RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def delete_records_up_to(sequence_number: int) -> bytes:
    """Delete records whose sequence number is <= `sequence_number` (once ingest has them)."""
    return _request(
        RacpOpCode.DELETE_STORED_RECORDS,
        RacpOperator.LESS_THAN_OR_EQUAL_TO,
        _from_sequence(sequence_number),
    )
