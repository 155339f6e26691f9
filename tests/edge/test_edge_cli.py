"""`vigil edge scan | pair | run | status` against emulated devices served over the remote
backend (the agent's radio code is the same as on BlueZ)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import ROOT, Devices

from edge.cli import main
from edge.config import load_settings
from edge.profiles import Profile, sig_uuid
from simulators.ble import Advertisement, Peripheral, characteristic
from simulators.devices import BloodPressureCuff, PulseOximeter, Thermometer

OXIMETER, CUFF, THERMO = "C0:02:00:00:00:01", "C0:02:00:00:00:02", "C0:02:00:00:00:03"
TAG = "C0:02:00:00:00:09"  # a key-finder tag: advertises Battery only, not a health device


def key_tag() -> Peripheral:
    tag = Peripheral(TAG, Advertisement("Tag", (sig_uuid(0x180F),)))
    tag.add_service(0x180F, [characteristic(0x2A19, "read", value=b"\x50")])
    return tag


@pytest.fixture(scope="module")
def room() -> Iterator[Devices]:
    # The cuff and thermometer advertise only after a measurement: make one right away.
    devices = Devices([
        PulseOximeter(OXIMETER, every_s=None),
        BloodPressureCuff(CUFF, every_s=3600, first_after_s=0.0, measurement_duration_s=0.0,
                          advertise_window_s=None),
        Thermometer(THERMO, every_s=None),  # never measured: not advertising
    ], serve=True)
    devices.thread.call(lambda: devices.room.add(key_tag()))
    yield devices
    devices.close()


@pytest.fixture
def config(tmp_path: Path, room: Devices) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f"""\
# hand-written, must survive pairing
gateway_id = "gw-cli"
ble_backend = "simulators.ble.remote"
status_file = "{tmp_path / 'health.json'}"

[ble_backend_options]
room = "{room.address}"
""")
    return path


def test_scan_lists_health_devices_with_name_address_rssi(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--config", str(config), "--timeout", "1.5", "--json"]) == 0
    found = {d["address"]: d for d in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(found) == {OXIMETER, CUFF}  # the thermometer is not advertising
    assert found[OXIMETER]["profiles"] == ["pulse_oximeter"]
    assert found[OXIMETER]["name"] == "Vigil PLX" and isinstance(found[OXIMETER]["rssi"], int)
    assert found[CUFF]["profiles"] == ["blood_pressure"]

    assert main(["scan", "--config", str(config), "--timeout", "1.5"]) == 0
    table = capsys.readouterr().out
    assert "ADDRESS" in table and OXIMETER in table and "pulse_oximeter" in table
    assert TAG not in table

    assert main(["scan", "--config", str(config), "--timeout", "1.5", "--all", "--json"]) == 0
    everything = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"address": TAG, "profiles": []}.items() <= next(
        d for d in everything if d["address"] == TAG).items()


def test_pairing_a_device_that_is_not_a_health_device_is_refused(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pair", TAG, "--config", str(config), "--timeout", "5"]) == 1
    assert "no health service" in capsys.readouterr().err
    assert load_settings(config).devices == []


def test_pair_detects_the_profile_and_appends_to_the_config(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = config.read_text()
    assert main(["pair", CUFF.lower(), "--config", str(config), "--timeout", "5",
                 "--expected-interval", "90000"]) == 0
    assert "blood_pressure" in capsys.readouterr().out
    assert config.read_text().startswith(original)
    device = load_settings(config).device(CUFF)
    assert device is not None and device.profile is Profile.BLOOD_PRESSURE
    assert device.name == "Vigil BP" and device.expected_interval_s == 90000

    assert main(["pair", CUFF, "--config", str(config), "--timeout", "5"]) == 1
    assert "already paired" in capsys.readouterr().err


def test_pair_a_silent_device_needs_a_profile(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pair", THERMO, "--config", str(config), "--timeout", "1"]) == 1
    assert "not heard" in capsys.readouterr().err
    assert load_settings(config).devices == []
    assert main(["pair", THERMO, "--config", str(config), "--timeout", "1",
                 "--profile", "thermometer"]) == 0
    device = load_settings(config).device(THERMO)
    assert device is not None and device.profile is Profile.THERMOMETER


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--config", "/nonexistent/gateway.toml"], "does not exist"),
        (["run", "--config", "{config}", "--mqtt-url", "http://x"], "mqtt://"),
        (["scan", "--config", "{config}", "--ble-backend", "no.such.backend"], "cannot import"),
        (["status", "--config", "{bare}"], "status_file is not set"),
    ],
)
def test_configuration_errors_exit_2_with_the_reason(
        argv: list[str], message: str, config: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('gateway_id = "gw"\n')
    args = [a.format(config=config, bare=bare) for a in argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_status_reports_an_agent_that_is_not_running(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--config", str(config)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_vigil_dispatches_edge() -> None:
    out = subprocess.run([sys.executable, "-m", "vigil.cli", "edge", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("scan", "pair", "run", "status"):
        assert command in out.stdout
