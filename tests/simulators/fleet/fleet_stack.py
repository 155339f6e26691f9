"""The real stack for the fleet's end-to-end tests: a Mosquitto and `vigil ingest` as child
processes we own (tests/vigil_stack.py), over a fresh PostgreSQL database."""

from __future__ import annotations

import psycopg
from vigil_stack import REPO, Ingest, Stack, quick_broker, stop_quietly

__all__ = ["REPO", "Ingest", "Stack", "quick_broker", "reading_ids", "stop_quietly"]


def reading_ids(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT reading_id FROM readings")]
