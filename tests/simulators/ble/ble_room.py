"""Plain peripherals (no device behaviour) for the backend tests."""

from __future__ import annotations

from simulators.ble import Advertisement, Peripheral, characteristic
from simulators.ble.gatt_table import uuid_of

BATTERY = uuid_of(0x180F)
LEVEL = uuid_of(0x2A19)
CUSTOM = uuid_of("7e1a0001-0000-4000-8000-00000000f00d")
STREAM = uuid_of("7e1a0002-0000-4000-8000-00000000f00d")  # notify
EVENTS = uuid_of("7e1a0003-0000-4000-8000-00000000f00d")  # indicate
CONTROL = uuid_of("7e1a0004-0000-4000-8000-00000000f00d")  # write, write-without-response
BOTH = uuid_of("7e1a0005-0000-4000-8000-00000000f00d")  # notify + indicate
READ_ONLY_ADDRESS = "AA:00:00:00:00:01"
GADGET_ADDRESS = "AA:00:00:00:00:02"


class Gadget:
    """A peripheral with one characteristic of every kind, recording what it was written."""

    def __init__(self, address: str = GADGET_ADDRESS) -> None:
        self.written: list[tuple[bytes, bool]] = []
        self.peripheral = Peripheral(
            address,
            Advertisement(
                "Gadget", (CUSTOM,), manufacturer_data={0xFFFF: b"\x01\x02"}, tx_power=4, rssi=-48
            ),
        )
        self.peripheral.add_service(
            CUSTOM,
            [
                characteristic(STREAM, "notify"),
                characteristic(EVENTS, "indicate"),
                characteristic(
                    CONTROL,
                    "write",
                    "write-without-response",
                    on_write=lambda data, response: self.written.append((data, response)),
                ),
                characteristic(BOTH, "notify", "indicate", "read", value=b"both"),
            ],
        )


def battery_only(address: str = READ_ONLY_ADDRESS) -> Peripheral:
    peripheral = Peripheral(address, Advertisement("Battery", (BATTERY,)))
    peripheral.add_service(BATTERY, [characteristic(LEVEL, "read", value=b"\x5a")])
    return peripheral
