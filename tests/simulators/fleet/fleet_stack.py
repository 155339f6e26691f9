"""The real stack for the fleet's end-to-end tests: a Mosquitto and `vigil ingest` as child
processes we own (tests/vigil_stack.py), over a fresh PostgreSQL database."""

from __future__ import annotations

import queue
import time

import psycopg
from vigil_stack import REPO, Ingest, Stack, quick_broker, stop_quietly

from simulators.fleet.network import Network
from simulators.fleet.transport import Note

__all__ = ["REPO", "Ingest", "Stack", "next_note", "quick_broker", "reading_ids", "stop_quietly"]


def reading_ids(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT reading_id FROM readings")]


def next_note(network: Network, notes: queue.SimpleQueue[Note], timeout: float = 10) -> Note:
    """Serve the fleet's network until it reports something (connected, denied, ...)."""
    deadline = time.monotonic() + timeout
    while notes.empty():
        assert time.monotonic() < deadline, "no news from the broker"
        network.poll(0.01)
    return notes.get_nowait()
