"""`vigil sim`: subcommand dispatch and `vigil sim devices --list`."""

from __future__ import annotations

import importlib.util
import json

import pytest

from simulators.cli import main
from simulators.devices.kit import KITS, device_address


def test_help_and_unknown_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "devices" in capsys.readouterr().out
    assert main(["teleport"]) == 2


def test_devices_list_prints_the_room(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--list", "--kit", "copd", "--patients", "2", "--seed", "9"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(entries) == 2 * len(KITS["copd"])
    assert {e["address"] for e in entries} == {
        device_address(9, p, k) for p in (1, 2) for k in KITS["copd"]
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["devices", "--listen", "nowhere"],
        ["devices", "--kit", "spaceship"],
        ["devices", "--patients", "0", "--list"],
        ["devices", "--scenario", "no-such-scenario", "--list"],
    ],
)
def test_devices_refuses_bad_options(argv: list[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    assert code == 2


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_fleet_is_dispatched_when_present(capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("simulators.fleet.cli") is None:
        pytest.skip("simulators.fleet.cli is not there yet")
    assert run(["fleet", "--help"]) == 0
    assert "usage" in capsys.readouterr().out.lower()


def test_fleet_absent_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    assert main(["fleet", "--help"]) == 2
    assert "not available" in capsys.readouterr().err
