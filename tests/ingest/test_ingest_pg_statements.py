"""What bench/system.py --pg-statements relies on: PostgresServer passes extra server settings,
and the PostgreSQL we run ships pg_stat_statements, which then sees the ingest schema's
statements."""

from __future__ import annotations

from pathlib import Path

import psycopg

from devstack.postgres import PostgresServer
from ingest import migrate

SETTINGS = {"shared_preload_libraries": "pg_stat_statements",
            "pg_stat_statements.track_planning": "on", "work_mem": "7MB"}


def test_extra_settings_reach_the_server_and_pg_stat_statements_counts(tmp_path: Path
                                                                       ) -> None:
    with PostgresServer(tmp_path / "pg", settings=SETTINGS) as pg:
        migrate.migrate(pg.url)
        with psycopg.connect(pg.url, autocommit=True) as conn:
            assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
            for _ in range(3):
                conn.execute("SELECT count(*) FROM alerts WHERE patient_id = %s", (1,))
            calls = conn.execute(
                "SELECT calls FROM pg_stat_statements WHERE query LIKE %s",
                ("SELECT count(*) FROM alerts WHERE patient_id = $1",)).fetchone()
        assert calls == (3,)

