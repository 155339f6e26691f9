"""`vigil sim fleet`: flags to configuration, files, and clear failures (exit 2)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_stack import REPO, quick_broker, stop_quietly

from devstack.ports import free_port
from simulators.fleet.cli import build_parser, config_from_args, main
from simulators.fleet.config import ConnectionMode, Mix
from simulators.fleet.credentials import load_credentials
from simulators.fleet.report import FleetReport
from vigil.cli import main as vigil_main


def config(*argv: str):  # type: ignore[no-untyped-def]
    return config_from_args(build_parser().parse_args(list(argv)))


def test_flags_become_the_configuration() -> None:
    c = config("--gateways", "40", "--mix", "caseload", "--rate", "500", "--duration", "2m",
               "--drain", "15", "--per-gateway-connections", "--seed", "7", "--quiet")
    assert (c.gateways, c.mix, c.rate, c.duration_s, c.drain_s, c.seed) == (
        40, Mix.CASELOAD, 500.0, 120.0, 15.0, 7)
    assert c.connection_mode is ConnectionMode.PER_GATEWAY and c.progress is False
    # Unset flags stay unset, so that a scenario file can fill them.
    assert "gateways" not in config().model_fields_set


@pytest.mark.parametrize(
    "argv",
    [["--rate", "5", "--speed", "2"], ["--connections", "2", "--per-gateway-connections"],
     ["--duration", "soon"], ["--service-account", "nopassword"], ["--mix", "icu"]],
)
def test_contradictory_or_malformed_flags_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gateways", "0"], "gateways"),
        (["--connections", "65"], "connections"),
        (["--scenario", "missing.toml"], "cannot read"),
        (["--provision", "--no-run"], "--provision needs"),
    ],
)
def test_unusable_settings_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_broker_that_is_not_there_fails_fast(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    assert main(["--mqtt-url", url, "--gateways", "2", "--connect-timeout", "1",
                 "--quiet"]) == 2
    assert "did not come up" in capsys.readouterr().err


def test_provision_writes_credentials_and_broker_files(tmp_path: Path) -> None:
    argv = ["--gateways", "3", "--prefix", "prov", "--provision", "--no-run",
            "--credentials", str(tmp_path / "creds"), "--passwd-file", str(tmp_path / "passwd"),
            "--acl-file", str(tmp_path / "acl"), "--service-account", "ingest:pw"]
    assert main(argv) == 0
    passwords = load_credentials(tmp_path / "creds")
    assert set(passwords) == {"prov-gw-00001", "prov-gw-00002", "prov-gw-00003"}
    users = {line.split(":")[0] for line in (tmp_path / "passwd").read_text().splitlines()}
    assert users == {*passwords, "ingest"}
    assert main(argv) == 0
    assert load_credentials(tmp_path / "creds") == passwords


def test_vigil_sim_fleet_reaches_this_command(tmp_path: Path) -> None:
    creds = tmp_path / "c"
    assert vigil_main(["sim", "fleet", "--gateways", "1", "--provision", "--no-run",
                       "--credentials", str(creds)]) == 0
    assert creds.exists()


def test_sigterm_stops_generating_and_still_reports(tmp_path: Path) -> None:
    broker = quick_broker(tmp_path / "mosquitto")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "sim", "fleet", "--mqtt-url", broker.url,
             "--gateways", "2", "--duration", "120", "--drain", "1", "--json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stderr is not None
        # Progress lines come once a second: after the second, readings are in flight.
        assert process.stderr.readline().startswith(b"fleet")
        assert process.stderr.readline().startswith(b"fleet")
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        stop_quietly(broker)
    report = FleetReport.model_validate_json(out)
    assert report.generating_s < 60
    # Nobody acknowledges here (no ingest), so the run reports its readings as lost: exit 1.
    assert report.readings_generated > 0
    assert process.returncode == 1 and report.readings_lost == report.readings_generated
