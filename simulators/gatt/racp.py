"""The device side of the Record Access Control Point: encoders of the responses the device
indicates (inverse of `edge.gatt.racp.decode_racp`) and a parser of the requests the gateway
writes (inverse of the request encoders in `edge.gatt.racp`).

The request parser is deliberately lenient: it splits op code, operator and operand and leaves
judging them to the simulated device, which answers with the matching response code (that is
what a real device does, and what the gateway's error paths need to see).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.gatt.racp import (
    FILTER_SEQUENCE_NUMBER,
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpResponse,
    RacpResponseCode,
)
from simulators.gatt.writer import PacketWriter


def encode_racp(value: RacpNumberOfRecords | RacpResponse) -> bytes:
    if isinstance(value, RacpNumberOfRecords):
        out = PacketWriter().u8(RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE)
        return out.u8(RacpOperator.NULL).u16(value.count).build()
    out = PacketWriter().u8(RacpOpCode.RESPONSE_CODE).u8(RacpOperator.NULL)
    return out.u8(value.request_op_code).u8(value.response_code).build()


def number_of_records(count: int) -> bytes:
    return encode_racp(RacpNumberOfRecords(count=count))


def response(request_op_code: int, code: RacpResponseCode) -> bytes:
    return encode_racp(RacpResponse(request_op_code=request_op_code, response_code=code))


class InvalidRacpRequest(ValueError):
    """Too short to carry an op code and an operator."""


@dataclass(frozen=True, slots=True)
class RacpRequest:
    op_code: int
    operator: int
    operand: bytes = b""

    @property
    def sequence_number(self) -> int | None:
        """The operand's sequence number when it is a sequence-number filter, else None."""
        if len(self.operand) == 3 and self.operand[0] == FILTER_SEQUENCE_NUMBER:
            return int.from_bytes(self.operand[1:], "little")
        return None


def parse_racp_request(data: bytes) -> RacpRequest:
    if len(data) < 2:
        raise InvalidRacpRequest(f"a RACP request needs op code and operator, got {data.hex()}")
    return RacpRequest(op_code=data[0], operator=data[1], operand=bytes(data[2:]))
