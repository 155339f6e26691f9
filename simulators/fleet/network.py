"""The fleet's event loop for its MQTT links: every link's socket in one selector, served
from the engine's own thread (simulators.fleet.transport has the links themselves)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from simulators.fleet.transport import Link

# Blocking TCP connects per poll: a dead broker must not freeze the engine for long.
CONNECTS_PER_POLL = 50
KEEPALIVE_CHECK_S = 1.0


class Network:
    """Every link's socket in one selector, served from the caller's thread."""

    def __init__(self, links: Sequence[Link]) -> None:
        self.links = list(links)
        self.selector = selectors.DefaultSelector()
        self._next_misc = 0.0
        self._writing: set[Any] = set()  # sockets registered for EVENT_WRITE
        self._touched: set[Link] = set()
        for link in self.links:
            link.network = self

    def watch(self, link: Link, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, link)
        self._writing.discard(sock)
        # No Nagle: a link writes a poll's worth of packets at once, and that write should
        # leave now rather than wait for the peer's ACK of the previous segment.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def unwatch(self, sock: Any) -> None:
        self._writing.discard(sock)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def touched(self, link: Link) -> None:
        """`link` buffered something: send it at the next poll."""
        self._touched.add(link)

    def _settle(self, links: Iterable[Link]) -> None:
        """Send what these links buffered since the last time, and wake for writability only
        for sockets with bytes left over (a full socket buffer). Only links that wrote or were
        served since the last check are looked at: thousands of per-gateway links are not
        scanned every tick."""
        for link in links:
            if link.sock is None:
                continue
            wanted = not link.flush()
            sock = link.sock
            if sock is not None and wanted != (sock in self._writing):
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.modify(sock, events, link)
                    if wanted:
                        self._writing.add(sock)
                    else:
                        self._writing.discard(sock)

    def poll(self, timeout: float) -> None:
        """Serve traffic for `timeout` seconds (a single pass when 0); reconnect links that
        are due. It keeps serving until the timeout rather than returning at the first packet:
        with acks and PUBACKs arriving all the time, the engine's loop around this ran once
        per packet, and a pass of that loop costs many times a select()."""
        now = time.monotonic()
        deadline = now + timeout
        self._reconnect_due(now)
        while True:
            touched, self._touched = self._touched, set()
            self._settle(touched)
            if not self.selector.get_map():
                time.sleep(max(0.0, deadline - now))
            else:
                served: set[Link] = set()
                for key, mask in self.selector.select(max(0.0, deadline - now)):
                    link: Link = key.data
                    if link.sock is not key.fileobj:
                        continue  # closed while serving an earlier event
                    served.add(link)
                    if mask & selectors.EVENT_READ:
                        link.read()
                    if mask & selectors.EVENT_WRITE:
                        link.flush()
                served |= self._touched  # the PUBACKs for what was just read
                self._touched = set()
                self._settle(served)
            now = time.monotonic()
            if now >= deadline:
                break
        if now >= self._next_misc:
            self._next_misc = now + KEEPALIVE_CHECK_S
            for link in self.links:
                if link.sock is not None:
                    link.misc(now)  # keepalive pings; drops a dead connection

    def _reconnect_due(self, now: float) -> None:
        budget = CONNECTS_PER_POLL
        for link in self.links:
            if budget == 0:
                return
            if link.wanted and link.retry_at is not None and link.retry_at <= now:
                link.try_connect(now)
                budget -= 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Disconnect every link cleanly, letting the DISCONNECTs go out."""
        for link in self.links:
            link.stop()
        deadline = time.monotonic() + timeout_s
        while self.selector.get_map() and time.monotonic() < deadline:
            self.poll(0.01)
        for link in self.links:
            link.close_socket()
        self.selector.close()
