"""Running the real stack in tests, shared by the system fault tests (tests/system) and the
fleet's end-to-end tests (tests/simulators/fleet): `vigil ingest` as a child process we own,
and a Mosquitto without per-change persistence. Every process here is started by the test and
stopped or killed by its own PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from devstack.mosquitto import MosquittoBroker

REPO = Path(__file__).resolve().parents[1]


class Ingest:
    """`vigil ingest` as deployed, with a stable client id so a restart resumes the broker's
    persistent session (what was delivered to a killed process but never acked comes again)."""

    def __init__(self, database_url: str, mqtt_url: str, log: Path, migrate: bool = True
                 ) -> None:
        self.args = [sys.executable, "-m", "vigil.cli", "ingest", "--database-url",
                     database_url, "--mqtt-url", mqtt_url, "--batch-delay-ms", "20",
                     "--client-id", f"test-ingest-{uuid.uuid4().hex[:8]}",
                     "--session-expiry-s", "600", *(["--migrate"] if migrate else [])]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        mark = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, cwd=REPO, stdout=out, stderr=out,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        # Only this start's lines: a restart appends to the same log.
        while "connected to broker" not in self.log.read_text(errors="replace")[mark:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vigil ingest did not start:\n{self.tail()}")
            time.sleep(0.05)
        time.sleep(0.3)  # its subscriptions granted

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> int:
        assert self.process is not None
        self.process.kill()
        code = self.process.wait(20)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)  # in case a test left it stopped
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Stack:
    """A running broker and ingest over one database, for one test."""

    database_url: str
    broker: MosquittoBroker
    ingest: Ingest

    @property
    def mqtt_url(self) -> str:
        return self.broker.url


def quick_broker(workdir: Path, **options: object) -> MosquittoBroker:
    """A broker without devstack's save-on-every-change persistence: that setting rewrites the
    whole store per message and caps throughput at a few hundred messages a second once a
    fleet's retained statuses are in it. The gateways (fleet, agent) resend whatever a broker
    restart loses: that is what the tests check."""
    broker = MosquittoBroker(workdir, persistence=False, **options)  # type: ignore[arg-type]
    broker.start()
    return broker


def stop_quietly(broker: MosquittoBroker) -> None:
    with contextlib.suppress(Exception):
        broker.kill()
