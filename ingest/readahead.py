"""A read-ahead buffer under paho's socket reads.

paho-mqtt reads every incoming packet with at least three recv() calls: one byte of packet
type, the remaining length byte by byte, then the body. Each call is a system call and a hand-off
of the GIL to ingest's decoder and writer threads; with gateways sending one or two readings a
message that was ~20 % of ingest's profile samples (bench/ingest.py --batch 2 --profile). This
wrapper reads up to 64 KiB at once and serves paho from the buffer.

paho already supports sockets that hold data select() cannot see (TLS keeps decrypted bytes):
while `pending()` is non-zero its loop reads again without waiting in select(). The wrapper
answers pending() with what it holds (plus what a TLS socket underneath holds), so buffered
packets are handled as promptly as unbuffered ones.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

_CHUNK = 64 * 1024


class ReadAheadSocket:
    """Delegates everything to the wrapped socket except recv() and pending()."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        available = len(self._data) - self._pos
        if available == 0:
            # Errors (BlockingIOError, TLS want-read, resets) reach paho exactly as before;
            # b"" (closed by the peer) too.
            data = self._sock.recv(max(bufsize, _CHUNK))
            if len(data) <= bufsize:
                return bytes(data)
            self._data, self._pos = bytes(data), 0
        start = self._pos
        self._pos = min(start + bufsize, len(self._data))
        return self._data[start:self._pos]

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._data) - self._pos + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ReadAheadClient(mqtt.Client):
    """paho's client over a ReadAheadSocket (a fresh one for every connection)."""

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())
