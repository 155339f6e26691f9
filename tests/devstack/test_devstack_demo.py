"""The README's main command: `vigil demo` brings the whole system up, readings reach the
database through real agents, the printed clinician login works, and it stops cleanly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from devstack.ports import free_port

pytestmark = pytest.mark.xdist_group("demo")


def _get(url: str, token: str | None = None) -> object:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_demo_runs_end_to_end_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "demo", "--data-dir", str(tmp_path / "demo"),
         "--port", str(port), "--minutes", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert demo.stdout is not None
    banner: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(banner)
        login = re.search(r"Clinician:\s+(\S+)\s+password: (\S+)", text)
        assert login, f"no clinician login printed:\n{text}"
        base = f"http://127.0.0.1:{port}"
        form = urllib.parse.urlencode(
            {"username": login.group(1), "password": login.group(2)}).encode()
        with urllib.request.urlopen(f"{base}/auth/token", data=form, timeout=10) as response:
            token = json.loads(response.read())["access_token"]
        # Oracle: every simulated patient is visible to the ward clinician, and readings from
        # the real agents arrive for them within a minute.
        patients = _get(f"{base}/patients", token)
        assert isinstance(patients, dict)
        items = patients["patients"]
        assert len(items) == 4
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen) < 4:
            for patient in items:
                status = _get(f"{base}/patients/{patient['id']}/status", token)
                assert isinstance(status, dict)
                if status["latest"]:
                    seen.add(patient["id"])
            time.sleep(3)
        assert len(seen) == 4, f"readings arrived for {len(seen)} of 4 patients"
        with urllib.request.urlopen(f"{base}/ui/login", timeout=10) as response:
            assert response.status == 200
    finally:
        try:
            rest, _ = demo.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
    assert demo.returncode == 0, "".join(banner) + rest
    assert "[demo] stopped" in rest
