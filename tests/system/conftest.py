"""Fixtures for the system fault tests (helpers in system_stack.py and tests/vigil_stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from vigil_stack import Ingest, Stack, quick_broker, stop_quietly


@pytest.fixture
def system(fresh_db_url: str, tmp_path: Path) -> Iterator[Stack]:
    """Mosquitto + `vigil ingest` (which migrates the fresh database) for one test."""
    broker = quick_broker(tmp_path / "mosquitto")
    ingest = Ingest(fresh_db_url, broker.url, tmp_path / "ingest.log")
    try:
        ingest.start()
        yield Stack(fresh_db_url, broker, ingest)
    finally:
        ingest.stop()
        stop_quietly(broker)
