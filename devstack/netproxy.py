"""A loopback TCP proxy that stands in for a bad network: pass, delay, cut, reset.

    proxy = NetProxy(upstream_port=1883)      # listens on 127.0.0.1:<proxy.port>
    proxy.start()                             # runs its own event loop in a thread
    proxy.cut()        # drop every connection and refuse new ones (Wi-Fi gone)
    proxy.restore()    # accept again
    proxy.delay_s = 0.2                       # added latency per chunk, each direction
    proxy.reset()      # abort every open connection with RST, keep accepting
    proxy.stop()

Used by the demo to take a gateway offline without stopping it, and by fault tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

from devstack.ports import free_port


@dataclass
class NetProxy:
    upstream_port: int
    upstream_host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    delay_s: float = 0.0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _cut: bool = False
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"netproxy:{self.port}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host,
                                                                 self.upstream_port)
        except OSError:
            _abort(writer)
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                with contextlib.suppress(Exception):
                    w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self._cut:
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _call(self, fn: object) -> None:
        assert self._loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        """The network is gone: every connection dies (RST) and new ones are refused."""
        self._cut = True
        self._call(self._abort_all)

    def restore(self) -> None:
        self._cut = False

    def reset(self) -> None:
        """Abort open connections with RST but keep accepting new ones."""
        self._call(self._abort_all)

    def _abort_all(self) -> None:
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    def stop(self) -> None:
        if self._loop is None:
            return

        def shutdown() -> None:
            self._abort_all()
            if self._server is not None:
                self._server.close()
            assert self._loop is not None
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close sends RST, as a dropped NAT mapping or a rebooted router does.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
