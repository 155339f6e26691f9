from __future__ import annotations

import uuid

import pytest

from edge.gatt import MalformedPacket, UnsupportedCharacteristic, decode, full_uuid, short_uuid


@pytest.mark.parametrize(
    "form",
    [
        0x2A19,
        "2a19",
        "2A19",
        "0x2A19",
        "0x2a19",
        " 2a19 ",
        "00002a19-0000-1000-8000-00805f9b34fb",
        "00002A19-0000-1000-8000-00805F9B34FB",
        uuid.UUID("00002a19-0000-1000-8000-00805f9b34fb"),
    ],
)
def test_every_uuid_form_reaches_the_decoder(form: int | str | uuid.UUID) -> None:
    assert short_uuid(form) == 0x2A19
    assert short_uuid(form) == 0x2A19  # again: from the cache of parsed strings
    assert decode(form, b"\x55").model_dump() == {"battery_level": 85}


@pytest.mark.parametrize(
    "form",
    [
        0x2A00,  # Device Name: a real characteristic we do not decode
        0x10000,
        -1,
        True,
        "",
        "2a1",
        "xyz",
        "0x2a19a",
        "6e400003-b5a3-f393-e0a9-e50e24dcca9e",  # a vendor 128-bit UUID (Nordic UART)
        "00002a19-0000-1000-8000-00805f9b34fc",  # one bit off the Bluetooth base
    ],
)
def test_unknown_uuids_are_unsupported(form: int | str) -> None:
    for _ in range(2):  # a refusal is never cached as an answer
        with pytest.raises(UnsupportedCharacteristic):
            decode(form, b"\x55")
    with pytest.raises(UnsupportedCharacteristic) as caught:
        decode(form, b"\x55")
    # Documented hierarchy: one `except MalformedPacket` covers it, and it is a ValueError.
    assert isinstance(caught.value, MalformedPacket)
    assert isinstance(caught.value, ValueError)


def test_full_uuid() -> None:
    assert full_uuid(0x2A35) == "00002a35-0000-1000-8000-00805f9b34fb"
    assert short_uuid(full_uuid(0x2A35)) == 0x2A35


def test_malformed_packet_carries_uuid_and_raw_bytes() -> None:
    with pytest.raises(MalformedPacket) as caught:
        decode("2a19", b"\x65")
    assert caught.value.uuid == 0x2A19
    assert caught.value.data == b"\x65"
    assert "0x2A19" in str(caught.value)
    assert "65" in str(caught.value)


def test_bytearray_and_memoryview_are_accepted() -> None:
    assert decode(0x2A19, bytearray(b"\x10")) == decode(0x2A19, memoryview(b"\x10"))
