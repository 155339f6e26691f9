from __future__ import annotations

import subprocess
import sys

from vigil.cli import COMMANDS, main


def test_help_lists_every_component(capsys: object) -> None:
    assert main(["--help"]) == 0


def test_unknown_command_is_an_error() -> None:
    assert main(["frobnicate"]) == 2


def test_console_script_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "vigil.cli", "--version"], check=True,
                         capture_output=True, text=True).stdout
    assert out.startswith("vigil ")
    assert set(COMMANDS) >= {"edge", "ingest", "db", "api", "sim", "demo"}
