"""An emulated BLE radio for bleak: rooms of peripherals behind bleak's own backend interface.

Agent code runs unchanged: it passes a backend class to bleak's public API and nothing else
differs. Two backend modules offer the same plugin interface (`scanner_backend`,
`client_backend`, `configure(**options)`):

* `simulators.ble.local`: devices in the same event loop (tests). `local.set_room(room)` or
  `local.configure(room=room)` installs the room every local scanner/client sees.
* `simulators.ble.remote`: devices hosted by `vigil sim devices --listen HOST:PORT` in another
  process; the room address comes from `configure(room="HOST:PORT")` or `VIGIL_SIM_ROOM`.

In-process, for a test::

    from simulators.ble import Room, local
    from simulators.devices import ManualClock, PulseOximeter, BloodPressureCuff

    clock = ManualClock()
    room = Room([PulseOximeter("C0:00:00:00:00:01", clock=clock),
                 BloodPressureCuff("C0:00:00:00:00:02", clock=clock, every_s=3600)])
    local.set_room(room)
    async with room:                                   # starts/stops the devices' behaviour
        found = await BleakScanner.discover(backend=local.scanner_backend)
        client = await establish_connection(BleakClient, found[0], "plx",
                                            backend=local.client_backend)
        await clock.advance(3600)                      # a simulated hour, in well under a second

bleak-retry-connector: `establish_connection(BleakClient, device, name, ..., backend=X)` works
as is, because it forwards unknown keyword arguments to the client class and `BleakClient`
accepts `backend=`. (`BleakClientWithServiceCache` works the same way.) Emulated `BLEDevice`s
carry `EmulatedDeviceDetails`, not a BlueZ dict, so the connector never touches D-Bus.

Behaviour follows bleak's BlueZ backend: the disconnected callback runs on every disconnect
(device- or client-initiated); a device accepts one central and stops advertising while
connected; CCCDs are per connection; missing/out-of-range/busy devices raise
`BleakDeviceNotFoundError`; ATT errors raise `BleakGATTProtocolError`; radio aborts raise
`BleakError("le-connection-abort-by-local ...")`; an unreachable room raises
`BleakBluetoothNotAvailableError`.
"""

from simulators.ble.errors import AttError, AttErrorCode, ConnectionAborted, DeviceUnavailable
from simulators.ble.peripheral import (
    Advertisement,
    Characteristic,
    Peripheral,
    Sighting,
    characteristic,
)
from simulators.ble.room import Hosted, Room

__all__ = [
    "Advertisement",
    "AttError",
    "AttErrorCode",
    "Characteristic",
    "ConnectionAborted",
    "DeviceUnavailable",
    "Hosted",
    "Peripheral",
    "Room",
    "Sighting",
    "characteristic",
]
