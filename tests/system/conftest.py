"""Fixtures for the system fault tests (helpers in system_stack.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from system_stack import Ingest

from devstack.mosquitto import MosquittoBroker


@dataclass
class System:
    database_url: str
    broker: MosquittoBroker
    ingest: Ingest

    @property
    def mqtt_url(self) -> str:
        return self.broker.url


def quick_broker(workdir: Path) -> MosquittoBroker:
    """No persistence: devstack's save-on-every-change rewrites the store per message. The
    gateways (fleet, agent) resend whatever a broker restart loses: that is what we test."""
    broker = MosquittoBroker(workdir, persistence=False)
    broker.start()
    return broker


@pytest.fixture
def system(fresh_db_url: str, tmp_path: Path) -> Iterator[System]:
    """Mosquitto + `vigil ingest` (which migrates the fresh database) for one test."""
    broker = quick_broker(tmp_path / "mosquitto")
    ingest = Ingest(fresh_db_url, broker.url, tmp_path / "ingest.log")
    try:
        ingest.start()
        yield System(fresh_db_url, broker, ingest)
    finally:
        ingest.stop()
        with contextlib.suppress(Exception):
            broker.kill()
