"""The remote backend across a real TCP socket to `vigil sim devices` in another process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak_retry_connector import establish_connection

from edge.gatt import (
    GlucoseMeasurement,
    PlxContinuous,
    RacpNumberOfRecords,
    RacpResponse,
    RacpResponseCode,
    decode,
    report_all_records,
    report_number_of_records,
)
from simulators.ble import remote
from simulators.ble.gatt_table import uuid_of
from simulators.devices.kit import device_address

SEED = 3
# Ten simulated seconds per real second: streams and measurements are quick, yet the glucose
# meter's 30 s idle timeout leaves three real seconds for a RACP exchange.
SPEED = "10"
GUARD_S = 20.0


@dataclass
class SimProcess:
    process: asyncio.subprocess.Process
    address: str
    devices: list[dict[str, str]]


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil.cli", "sim", "devices",
        "--listen", "127.0.0.1:0", "--kit", "home", "--seed", str(SEED),
        "--every", "100000", "--speed", SPEED, "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), GUARD_S)
        ready = json.loads(line)
        assert ready["event"] == "listening"
        remote.reset()
        monkeypatch.setenv(remote.ENV_ROOM, ready["address"])
        yield SimProcess(process, ready["address"], ready["devices"])
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)  # only if the test did not stop it itself
            await process.wait()


class Inbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()

    def __call__(self, characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        self.queue.put_nowait(decode(characteristic.uuid, data))

    async def next(self) -> object:
        return await asyncio.wait_for(self.queue.get(), GUARD_S)


async def test_agent_code_reads_devices_in_another_process(sim: SimProcess) -> None:
    oximeter = device_address(SEED, 1, "pulse_oximeter")
    glucose = device_address(SEED, 1, "glucose_meter")
    assert {d["kind"] for d in sim.devices} >= {"pulse_oximeter", "glucose_meter"}

    found = await BleakScanner.find_device_by_filter(
        lambda d, _a: d.address == oximeter,
        timeout=GUARD_S,
        service_uuids=[uuid_of(0x1822)],
        backend=remote.scanner_backend,
    )
    assert found is not None
    client = await establish_connection(
        BleakClient, found, "oximeter", backend=remote.client_backend
    )
    inbox = Inbox()
    await client.start_notify(uuid_of(0x2A5F), inbox)
    for _ in range(3):
        assert isinstance(await inbox.next(), PlxContinuous)
    await client.disconnect()

    # A patient takes a finger-stick (operator control), then the meter advertises.
    async with remote.RoomControl() as control:
        await control.control(glucose, "measure")
        while not next(d for d in await control.devices() if d.address == glucose).visible:
            await asyncio.sleep(0.05)
    gone = asyncio.Event()
    meter = BleakClient(glucose, lambda _c: gone.set(), backend=remote.client_backend)
    await meter.connect()
    inbox = Inbox()
    await meter.start_notify(uuid_of(0x2A18), inbox)
    await meter.start_notify(uuid_of(0x2A52), inbox)
    await meter.write_gatt_char(uuid_of(0x2A52), report_number_of_records(), response=True)
    assert await inbox.next() == RacpNumberOfRecords(count=1)
    await meter.write_gatt_char(uuid_of(0x2A52), report_all_records(), response=True)
    record = await inbox.next()
    assert isinstance(record, GlucoseMeasurement) and record.sequence_number == 0
    assert await inbox.next() == RacpResponse(
        request_op_code=1, response_code=RacpResponseCode.SUCCESS
    )
    # The device ends the link (as its idle timer would): the callback fires across processes.
    async with remote.RoomControl() as control:
        await control.control(glucose, "disconnect")
    await asyncio.wait_for(gone.wait(), GUARD_S)

    sim.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(sim.process.wait(), GUARD_S) == 0
