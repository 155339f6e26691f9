"""The radio boundary: which bleak backend the agent uses, and one shared scanner.

`ble_backend = "native"` is bleak's platform backend (BlueZ on a Raspberry Pi). Any other value
is a module path exposing `scanner_backend` and `client_backend` (subclasses of bleak's
BaseBleakScanner / BaseBleakClient) and optionally `configure(**options)` -- the emulated radio
in simulators.ble is one. The module is imported by name at run time, so edge never imports
the simulators, and the agent code is the same on every backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from edge.backoff import Backoff

log = logging.getLogger("edge.radio")

NATIVE = "native"


class RadioError(RuntimeError):
    """The configured BLE backend cannot be loaded."""


@dataclass(frozen=True, slots=True)
class Radio:
    name: str
    scanner_backend: type[BaseBleakScanner] | None = None
    client_backend: type[BaseBleakClient] | None = None

    def scanner(
        self,
        detection_callback: Callable[[BLEDevice, AdvertisementData], None] | None = None,
        service_uuids: list[str] | None = None,
    ) -> BleakScanner:
        return BleakScanner(detection_callback, service_uuids, backend=self.scanner_backend)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for BleakClient (or establish_connection, which passes them on)."""
        return {} if self.client_backend is None else {"backend": self.client_backend}


def load_radio(name: str, options: Mapping[str, Any] | None = None) -> Radio:
    options = dict(options or {})
    if name == NATIVE:
        if options:
            raise RadioError("ble_backend_options apply only to a backend module, not 'native'")
        return Radio(NATIVE)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise RadioError(f"cannot import BLE backend module {name!r}: {exc}") from exc
    scanner = getattr(module, "scanner_backend", None)
    client = getattr(module, "client_backend", None)
    if not (isinstance(scanner, type) and issubclass(scanner, BaseBleakScanner)):
        raise RadioError(f"{name}.scanner_backend is not a bleak BaseBleakScanner subclass")
    if not (isinstance(client, type) and issubclass(client, BaseBleakClient)):
        raise RadioError(f"{name}.client_backend is not a bleak BaseBleakClient subclass")
    configure = getattr(module, "configure", None)
    if callable(configure):
        try:
            configure(**options)
        except TypeError as exc:
            raise RadioError(f"{name}.configure rejected ble_backend_options: {exc}") from exc
    elif options:
        raise RadioError(f"{name} takes no options (it has no configure function)")
    return Radio(name, scanner, client)


@dataclass
class Sighting:
    device: BLEDevice
    advertisement: AdvertisementData
    seen_at: float  # monotonic


@dataclass
class Finder:
    """One scanner for the whole gateway: supervisors ask it for their device instead of
    each running a scan (adapters handle one discovery well, several badly)."""

    radio: Radio
    # A sighting younger than this is good enough to connect to.
    fresh_s: float = 3.0
    _seen: dict[str, Sighting] = field(default_factory=dict)
    _waiters: dict[str, list[asyncio.Future[Sighting]]] = field(default_factory=dict)
    # Restart a scan that has heard nothing at all for this long.
    quiet_restart_s: float = 120.0
    _scanner: BleakScanner | None = None
    _last_detection: float = 0.0
    scanning: bool = False

    async def run(self) -> None:
        """Scan until cancelled. An adapter that is missing or off (BlueZ restarting, the
        emulated room not up yet) is retried with backoff, and a scan that has heard nothing
        for `quiet_restart_s` is restarted (a scanner whose adapter went away does not always
        say so); the rest of the agent -- the outbox, the uplink -- carries on meanwhile."""
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                await self._scan_once()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # BleakError, D-Bus socket errors, ...
                delay = backoff.next_delay()
                log.error("Bluetooth scanner unavailable", extra={
                    "error": f"{type(exc).__name__}: {exc}", "retry_in_s": round(delay, 1)})
                await asyncio.sleep(delay)

    async def _scan_once(self) -> None:
        scanner = self.radio.scanner(self._detected)
        await scanner.start()
        self._scanner, self.scanning = scanner, True
        self._last_detection = time.monotonic()
        try:
            while time.monotonic() - self._last_detection < self.quiet_restart_s:
                await asyncio.sleep(min(5.0, self.quiet_restart_s))
            log.warning("no advertisement heard; restarting the scan",
                        extra={"quiet_s": self.quiet_restart_s})
        finally:
            self._scanner, self.scanning = None, False
            with contextlib.suppress(Exception):
                await scanner.stop()

    def _detected(self, device: BLEDevice, advertisement: AdvertisementData) -> None:
        address = device.address.upper()
        self._last_detection = time.monotonic()
        sighting = Sighting(device, advertisement, self._last_detection)
        self._seen[address] = sighting
        for waiter in self._waiters.pop(address, []):
            if not waiter.done():
                waiter.set_result(sighting)

    def last_seen(self, address: str) -> Sighting | None:
        return self._seen.get(address.upper())

    async def find(
        self, address: str, timeout: float, newer_than: float | None = None
    ) -> Sighting | None:
        """A fresh sighting of `address` (younger than fresh_s, and heard after the monotonic
        time `newer_than` -- say, after the last link ended), waiting up to `timeout` for one;
        None if none came."""
        address = address.upper()
        sighting = self._seen.get(address)
        if sighting is not None and time.monotonic() - sighting.seen_at <= self.fresh_s and (
                newer_than is None or sighting.seen_at > newer_than):
            return sighting
        waiter: asyncio.Future[Sighting] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(address, []).append(waiter)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel
                return await waiter
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(address)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
