"""Record Access Control Point (0x2A52): responses decoded, requests encoded (Glucose Service
1.0 section 3.8 op codes and operators)."""

from __future__ import annotations

import pytest

from edge.gatt import (
    MalformedPacket,
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    abort_operation,
    decode,
    delete_all_records,
    delete_records_up_to,
    report_all_records,
    report_number_of_records,
    report_number_of_records_from,
    report_records_from,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        ("05 00 0a00", RacpNumberOfRecords(count=10)),
        ("05 00 ffff", RacpNumberOfRecords(count=0xFFFF)),
        ("06 00 01 01", RacpResponse(request_op_code=1, response_code=RacpResponseCode.SUCCESS)),
        (
            "06 00 01 06",
            RacpResponse(request_op_code=1, response_code=RacpResponseCode.NO_RECORDS_FOUND),
        ),
        (
            "06 00 03 07",
            RacpResponse(request_op_code=3, response_code=RacpResponseCode.ABORT_UNSUCCESSFUL),
        ),
        (
            "06 00 99 02",
            RacpResponse(
                request_op_code=0x99, response_code=RacpResponseCode.OP_CODE_NOT_SUPPORTED
            ),
        ),
        (
            "06 00 04 09",
            RacpResponse(request_op_code=4, response_code=RacpResponseCode.OPERAND_NOT_SUPPORTED),
        ),
    ],
)
def test_responses(packet: str, expected: RacpNumberOfRecords | RacpResponse) -> None:
    assert decode(0x2A52, h(packet)) == expected


def test_success_property() -> None:
    ok = decode(0x2A52, h("06 00 01 01"))
    failed = decode(0x2A52, h("06 00 01 08"))
    assert isinstance(ok, RacpResponse) and ok.success
    assert isinstance(failed, RacpResponse) and not failed.success


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "05",
        "05 00",
        "05 00 0a",
        "05 00 0a00 00",
        "06 00 01",
        "06 00 01 01 00",
        "06 00 01 00",  # response code 0 reserved
        "06 00 01 0a",  # response code 10 reserved
        "06 01 01 01",  # operator must be Null
        "05 01 0a00",
        "01 01",  # a request, not a response
        "04 01",
        "00 00",
        "07 00 00 00",
    ],
)
def test_malformed(packet: str) -> None:
    with pytest.raises(MalformedPacket):
        decode(0x2A52, h(packet))


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (report_all_records(), "01 01"),
        (report_records_from(0x1234), "01 03 01 3412"),
        (report_records_from(0), "01 03 01 0000"),
        (report_number_of_records(), "04 01"),
        (report_number_of_records_from(5), "04 03 01 0500"),
        (abort_operation(), "03 00"),
        (delete_all_records(), "02 01"),
        (delete_records_up_to(0xFFFF), "02 02 01 ffff"),
    ],
)
def test_requests(packet: bytes, expected: str) -> None:
    assert packet == h(expected)


@pytest.mark.parametrize("sequence", [-1, 0x10000])
def test_request_operand_must_be_uint16(sequence: int) -> None:
    with pytest.raises(ValueError):
        report_records_from(sequence)
    with pytest.raises(ValueError):
        delete_records_up_to(sequence)
