"""The network stand-in passes bytes, cuts, restores and resets connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from devstack.netproxy import NetProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except ConnectionError:
            pass  # the proxy reset it: that is the point


def _round_trip(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        return sock.recv(4096)


def test_proxy_passes_cuts_and_restores(echo_port: int) -> None:
    proxy = NetProxy(echo_port)
    proxy.start()
    try:
        assert _round_trip(proxy.port) == b"ping"
        held = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        held.sendall(b"x")
        assert held.recv(10) == b"x"
        proxy.cut()
        # An open connection dies, and a new one gets no service.
        with pytest.raises((ConnectionError, OSError)):
            held.sendall(b"y")
            if not held.recv(10):
                raise ConnectionResetError("closed")
        held.close()
        with pytest.raises((ConnectionError, OSError)):
            if not _round_trip(proxy.port):
                raise ConnectionResetError("closed")
        proxy.restore()
        assert _round_trip(proxy.port) == b"ping"
    finally:
        proxy.stop()
