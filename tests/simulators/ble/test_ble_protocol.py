"""The room wire protocol: frames round-trip, and anything else is a typed ProtocolError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.ble.gatt_table import CharacteristicInfo, DescriptorInfo, ServiceInfo, uuid_of
from simulators.ble.protocol import (
    Advert,
    Confirm,
    Connect,
    Control,
    Disconnected,
    Failure,
    Indication,
    ListDevices,
    Notification,
    ProtocolError,
    Read,
    Result,
    Scan,
    Write,
    WriteDescriptor,
    decode_reply,
    decode_request,
    encode,
)

SERVICES = (
    ServiceInfo(
        1,
        uuid_of(0x180F),
        (
            CharacteristicInfo(
                3, uuid_of(0x2A19), ("read", "notify"), (DescriptorInfo(4, uuid_of(0x2902)),)
            ),
        ),
    ),
)

REQUESTS = [
    Scan(),
    Connect(id=1, address="C0:00:00:00:00:01"),
    Read(id=2, handle=3),
    Write(id=3, handle=3, value=b"\x00\xff", response=False),
    WriteDescriptor(id=4, handle=4, value=b"\x02\x00"),
    Confirm(handle=3),
    ListDevices(id=5),
    Control(id=6, address="C0:00:00:00:00:01", action="range", value=False),
]
REPLIES = [
    Result(id=1, name="Vigil PLX", mtu=247, services=SERVICES),
    Result(id=2, value=b""),
    Failure(id=3, kind="att", code=3, message="ATT error 0x03"),
    Failure(kind="protocol", message="bad frame"),
    Notification(handle=3, value=b"\x01\x02"),
    Indication(handle=8, value=bytes(range(20))),
    Disconnected(reason="transfer complete"),
    Advert(address="C0:00:00:00:00:01", local_name="x", manufacturer_data={0xFFFF: b"1"}, rssi=-60),
]


@pytest.mark.parametrize("frame", REQUESTS, ids=lambda f: f.op)
def test_requests_round_trip(frame: object) -> None:
    line = encode(frame)  # type: ignore[arg-type]
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == frame


@pytest.mark.parametrize("frame", REPLIES, ids=lambda f: f.op)
def test_replies_round_trip(frame: object) -> None:
    assert decode_reply(encode(frame)) == frame  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "line, problem",
    [
        (b"not json\n", "Invalid JSON"),
        (b'{"op": "teleport"}\n', "does not match any of the expected tags"),
        (b'{"op": "read", "id": 1}\n', "read.handle"),
        (b'{"op": "write", "id": 1, "handle": 3, "value": "zz"}\n', "not a hex string"),
        (b'{"op": "read", "id": 1, "handle": 3, "extra": 1}\n', "Extra inputs"),
        (b"[]\n", "Input should be an object"),
    ],
)
def test_bad_requests_are_protocol_errors(line: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_request(line)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protocol_error(line: bytes) -> None:
    for decode in (decode_request, decode_reply):
        with contextlib.suppress(ProtocolError):
            decode(line)
