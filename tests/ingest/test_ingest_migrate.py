"""Migrations: from empty, re-run, concurrent runs from several processes, and refusals."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import psycopg
import pytest

from ingest import migrate
from ingest.db_cli import main as db_main
from ingest.migrate import MigrationChanged, MigrationError
from vigil.metrics import CATALOGUE

CORE_TABLES = {"organisations", "care_teams", "users", "team_members", "patients",
               "patient_teams", "gateways", "devices", "enrolments", "metrics", "reading_ids",
               "readings", "dead_letters", "device_events", "schema_migrations"}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_from_empty_then_rerun_is_a_no_op(fresh_db_url: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert db_main(["--database-url", fresh_db_url, "migrate"]) == 0
    first = capsys.readouterr().out
    assert "applied  0001_directory" in first and "timescaledb: not available" in first
    assert tables(fresh_db_url) >= CORE_TABLES
    assert db_main(["--database-url", fresh_db_url, "migrate"]) == 0
    assert "0 applied" in capsys.readouterr().out
    assert db_main(["--database-url", fresh_db_url, "status"]) == 0
    status = capsys.readouterr().out
    assert "PENDING" not in status and "applied  0003_readings" in status
    with psycopg.connect(fresh_db_url) as conn:
        rows = conn.execute("SELECT number, code, ucum FROM metrics ORDER BY number").fetchall()
    assert rows == [(s.number, s.metric.value, s.ucum)
                    for s in sorted(CATALOGUE.values(), key=lambda s: s.number)]


def _migrate_in_process(url: str) -> list[str]:
    return migrate.migrate(url).applied


def test_concurrent_migrate_from_several_processes(fresh_db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_migrate_in_process, [fresh_db_url] * 4)
    applied = [name for names in results for name in names]
    # Every migration applied exactly once across all processes.
    assert sorted(applied) == sorted(m.name for m in migrate.discover())
    with psycopg.connect(fresh_db_url) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == (len(migrate.discover()),)


def test_failed_migration_leaves_nothing_behind(fresh_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x int); SELECT nonsense();")
    with pytest.raises(MigrationError, match="0002_bad"):
        migrate.migrate(fresh_db_url, migrate.discover(tmp_path))
    assert {"a", "schema_migrations"} == tables(fresh_db_url)
    assert migrate.pending(fresh_db_url, migrate.discover(tmp_path)) == ["0002_bad"]


def test_edited_migration_is_refused(fresh_db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_text("CREATE TABLE a (x int);")
    migrate.migrate(fresh_db_url, migrate.discover(tmp_path))
    path.write_text("CREATE TABLE a (x bigint);")
    with pytest.raises(MigrationChanged):
        migrate.migrate(fresh_db_url, migrate.discover(tmp_path))


def test_no_transaction_migration_and_name_order(fresh_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "0100_later.sql").write_text("CREATE INDEX CONCURRENTLY a_x ON a (x);")
    (tmp_path / "0002_index.sql").write_text(
        "-- vigil:no-transaction\nCREATE INDEX CONCURRENTLY a_y ON a (x);")
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x int);")
    found = migrate.discover(tmp_path)
    assert [m.name for m in found] == ["0001_a", "0002_index", "0100_later"]
    assert [m.transactional for m in found] == [True, False, True]
    with pytest.raises(MigrationError, match="0100_later"):  # CONCURRENTLY in a transaction
        migrate.migrate(fresh_db_url, found)
    assert migrate.pending(fresh_db_url, found) == ["0100_later"]


def test_badly_named_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_"):
        migrate.discover(tmp_path)


def test_unreachable_database_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = db_main(["--database-url", "postgresql://nobody@127.0.0.1:1/x?connect_timeout=2",
                    "migrate"])
    assert code == 1 and "vigil db migrate:" in capsys.readouterr().err
