"""Scanning for health devices (`vigil edge scan`) and adding one to the config
(`vigil edge pair`)."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from edge.config import ConfigError, DeviceConfig, load_settings
from edge.profiles import Profile, detect_profiles
from edge.radio import Radio
from vigil.messages import normalise_device_id


@dataclass(frozen=True, slots=True)
class Found:
    address: str
    name: str | None
    rssi: int
    services: tuple[str, ...]
    profiles: tuple[Profile, ...]

    @property
    def is_health_device(self) -> bool:
        return bool(self.profiles)


def _found(device: BLEDevice, adv: AdvertisementData) -> Found:
    services = tuple(adv.service_uuids)
    return Found(normalise_device_id(device.address), adv.local_name or device.name, adv.rssi,
                 services, tuple(detect_profiles(services)))


async def scan(radio: Radio, timeout: float) -> list[Found]:
    """Everything heard within `timeout`, strongest signal first."""
    seen: dict[str, Found] = {}

    def detected(device: BLEDevice, adv: AdvertisementData) -> None:
        seen[normalise_device_id(device.address)] = _found(device, adv)

    scanner = radio.scanner(detected)
    await scanner.start()
    try:
        await asyncio.sleep(timeout)
    finally:
        await scanner.stop()
    return sorted(seen.values(), key=lambda f: (-f.rssi, f.address))


async def find(radio: Radio, address: str, timeout: float) -> Found | None:
    wanted = normalise_device_id(address)
    result: asyncio.Future[Found] = asyncio.get_running_loop().create_future()

    def detected(device: BLEDevice, adv: AdvertisementData) -> None:
        if normalise_device_id(device.address) == wanted and not result.done():
            result.set_result(_found(device, adv))

    scanner = radio.scanner(detected)
    await scanner.start()
    try:
        async with asyncio.timeout(timeout):
            return await result
    except TimeoutError:
        return None
    finally:
        await scanner.stop()


class AlreadyPaired(ValueError):
    def __init__(self, device: DeviceConfig) -> None:
        super().__init__(f"{device.address} is already paired as {device.profile.value}")
        self.device = device


def add_device(path: Path, device: DeviceConfig) -> None:
    """Append a [[devices]] table to the config file, keeping its comments and layout.

    The result is validated (file + environment) before it replaces the original, so a file
    that cannot take the entry (say, an inline `devices = [...]`) is left untouched."""
    original = path.read_text()
    with path.open("rb") as handle:
        current = tomllib.load(handle)
    for entry in current.get("devices", []):
        if isinstance(entry, dict) and normalise_device_id(str(entry.get("address", ""))) \
                == device.address:
            raise AlreadyPaired(DeviceConfig.model_validate(entry))
    lines = ["", "[[devices]]", f"address = {json.dumps(device.address)}",
             f"profile = {json.dumps(device.profile.value)}"]
    if device.name:
        lines.append(f"name = {json.dumps(device.name)}")
    if device.expected_interval_s is not None:
        lines.append(f"expected_interval_s = {device.expected_interval_s!r}")
    updated = original + ("" if original.endswith("\n") or not original else "\n") \
        + "\n".join(lines) + "\n"
    tmp = path.with_name(f".{path.name}.pairing")
    tmp.write_text(updated)
    try:
        settings = load_settings(tmp)
        if settings.device(device.address) is None:
            raise ConfigError(f"{path}: the new entry did not land in the devices list")
    except ConfigError:
        tmp.unlink()
        raise
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
