"""The read-ahead socket hands paho exactly the bytes the socket would have, in any read
sizes, and says how many it still holds so paho's loop does not wait in select()."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.readahead import ReadAheadSocket


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_reads_come_from_one_recv_and_pending_counts_the_rest(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    writer, reader = pair
    writer.sendall(b"\x30\x05hello\x30\x02hi")
    sock = ReadAheadSocket(reader)
    assert sock.pending() == 0
    assert sock.recv(1) == b"\x30"
    assert sock.pending() == 10
    assert sock.recv(1) == b"\x05" and sock.recv(5) == b"hello"
    assert sock.recv(100) == b"\x30\x02hi"  # never more than it holds
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):
        sock.recv(1)  # an empty non-blocking socket, as paho expects it
    writer.close()
    assert sock.recv(1) == b""  # closed by the peer


def test_everything_else_reaches_the_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    sock = ReadAheadSocket(reader)
    assert sock.fileno() == reader.fileno()
    assert sock.send(b"ping") == 4
    assert writer.recv(4) == b"ping"
    sock.close()
    assert reader.fileno() == -1


@settings(max_examples=50, deadline=None)
@given(data=st.binary(min_size=1, max_size=200_000),
       sizes=st.lists(st.integers(1, 70_000), min_size=1, max_size=50))
def test_any_read_sizes_return_the_same_byte_stream(data: bytes, sizes: list[int]) -> None:
    writer, reader = socket.socketpair()
    try:
        writer.setblocking(False)
        sock = ReadAheadSocket(reader)
        received = bytearray()
        sent = 0
        step = 0
        while len(received) < len(data):
            if sent < len(data):
                with contextlib.suppress(BlockingIOError):  # the reader catches up below
                    sent += writer.send(data[sent:sent + 50_000])
            size = sizes[step % len(sizes)]
            step += 1
            reader.settimeout(5)
            chunk = sock.recv(size)
            assert 0 < len(chunk) <= size
            received += chunk
        assert bytes(received) == data and sock.pending() == 0
    finally:
        writer.close()
        reader.close()
