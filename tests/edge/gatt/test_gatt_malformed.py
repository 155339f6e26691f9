"""Whatever bytes arrive, decode either returns a value of the right characteristic or raises
MalformedPacket: never another exception, never a half-built value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.gatt import (
    SUPPORTED_UUIDS,
    GattValue,
    MalformedPacket,
    UnsupportedCharacteristic,
    decode,
)

STAMP = "e807 03 0f 0a 1e 00"

# One packet per characteristic with every optional field present: every strict prefix of it
# is a truncated packet, and one more byte is a trailing byte.
RICH = {
    0x2A35: f"1f a0f0 6bf0 7df0 {STAMP} 4800 01 2500",
    0x2A36: f"1f 9600 ff07 ff07 {STAMP} 4800 01 0100",
    0x2A5E: f"1f 6200 4800 {STAMP} 4000 018000 20f0",
    0x2A5F: "1f 6200 4800 6100 4900 6300 4700 0040 000400 20f0",
    0x2A60: "ff00 e0ff ffff00",
    0x2A37: "1f 4800 ffff 0004",
    0x2A1C: f"07 d10300ff {STAMP} 09",
    0x2A1E: f"07 d10300ff {STAMP} 09",
    0x2A9D: f"0f b036 {STAMP} 01 f500 da06",
    0x2A9E: "bf010000",
    0x2A18: f"1b 2a00 {STAMP} 1e00 5ab0 11 ffff",
    0x2A52: "06 00 01 01",
    0x2A19: "64",
    0x2A08: STAMP,
    0x2A2B: f"{STAMP} 05 80 0b",
}
PACKETS = {uuid: bytes.fromhex(text.replace(" ", "")) for uuid, text in RICH.items()}


def test_every_supported_uuid_has_a_rich_packet() -> None:
    assert set(PACKETS) == SUPPORTED_UUIDS


@pytest.mark.parametrize("uuid", sorted(PACKETS))
def test_rich_packet_decodes(uuid: int) -> None:
    assert decode(uuid, PACKETS[uuid]).uuid == uuid


@pytest.mark.parametrize("uuid", sorted(PACKETS))
def test_every_truncation_is_malformed(uuid: int) -> None:
    packet = PACKETS[uuid]
    for size in range(len(packet)):
        with pytest.raises(MalformedPacket) as caught:
            decode(uuid, packet[:size])
        assert caught.value.data == packet[:size]
        assert not isinstance(caught.value, UnsupportedCharacteristic)


@pytest.mark.parametrize("uuid", sorted(PACKETS))
@pytest.mark.parametrize("extra", [b"\x00", b"\xff", b"\x01\x02\x03"])
def test_trailing_bytes_are_malformed(uuid: int, extra: bytes) -> None:
    with pytest.raises(MalformedPacket, match=r"trailing|odd"):
        decode(uuid, PACKETS[uuid] + extra)


def _check(uuid: int, data: bytes) -> None:
    try:
        value = decode(uuid, data)
    except MalformedPacket as exc:
        assert exc.uuid == uuid
        assert exc.data == data
        return
    assert isinstance(value, GattValue)
    assert value.uuid == uuid


@settings(max_examples=700, deadline=None)
@given(st.sampled_from(sorted(SUPPORTED_UUIDS)), st.binary(max_size=40))
def test_arbitrary_bytes_only_raise_malformed_packet(uuid: int, data: bytes) -> None:
    _check(uuid, data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[int, bytes]:
    """A rich packet with some bytes overwritten and maybe cut or extended: reaches the field
    validators (dates, enumerations, flag combinations) far more often than random bytes."""
    uuid = draw(st.sampled_from(sorted(PACKETS)))
    packet = bytearray(PACKETS[uuid])
    for _ in range(draw(st.integers(1, 4))):
        packet[draw(st.integers(0, len(packet) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(packet)))
    return uuid, bytes(packet[:cut]) + draw(st.binary(max_size=3))


@settings(max_examples=700, deadline=None)
@given(mutated())
def test_mutated_packets_only_raise_malformed_packet(case: tuple[int, bytes]) -> None:
    _check(*case)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF).filter(lambda u: u not in SUPPORTED_UUIDS), st.binary(max_size=8))
def test_unknown_uuids_raise_unsupported(uuid: int, data: bytes) -> None:
    with pytest.raises(UnsupportedCharacteristic):
        decode(uuid, data)
