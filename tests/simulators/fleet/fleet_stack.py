"""The real stack for the fleet's end-to-end tests: a Mosquitto and `vigil ingest` as child
processes we own, over a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devstack.mosquitto import MosquittoBroker

REPO = Path(__file__).resolve().parents[3]


class Ingest:
    """`vigil ingest --migrate` as a subprocess: the consumer exactly as deployed."""

    def __init__(self, database_url: str, mqtt_url: str, log: Path) -> None:
        self.args = [sys.executable, "-m", "vigil.cli", "ingest", "--database-url",
                     database_url, "--mqtt-url", mqtt_url, "--migrate", "--batch-delay-ms",
                     "20", "--client-id", f"fleet-test-{uuid.uuid4().hex[:8]}"]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, cwd=REPO, stdout=out, stderr=out,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while "connected to broker" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vigil ingest did not start:\n{self.tail()}")
            time.sleep(0.05)
        time.sleep(0.3)  # its subscriptions granted

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Stack:
    database_url: str
    broker: MosquittoBroker
    ingest: Ingest

    @property
    def mqtt_url(self) -> str:
        return self.broker.url


def quick_broker(workdir: Path, **options: object) -> MosquittoBroker:
    """A broker without devstack's save-on-every-change persistence: that setting rewrites the
    whole store per message and caps throughput at a few hundred messages a second once a
    fleet's retained statuses are in it. The fleet resends what a restart loses anyway."""
    broker = MosquittoBroker(workdir, persistence=False, **options)  # type: ignore[arg-type]
    broker.start()
    return broker


def reading_ids(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT reading_id FROM readings")]


def stop_quietly(broker: MosquittoBroker) -> None:
    with contextlib.suppress(Exception):
        broker.kill()
