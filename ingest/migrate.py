"""Ordered SQL migrations with a migrations table and an advisory lock.

Why a small runner and not a migration framework: the schema is raw PostgreSQL/TimescaleDB DDL
(exclusion constraints, hypertables, continuous aggregates that must run outside a transaction),
the order is simply the file names (`NNNN_name.sql`; 0001-0099 ingest, 0100+ alerts/API), and
the TimescaleDB steps must be applied only where the extension exists. Alembic would bring
SQLAlchemy for none of its features; yoyo and friends add a lock table we get for free from
`pg_advisory_lock`. This is the whole runner.

Guarantees:
- each file runs in its own transaction together with its row in `schema_migrations`, so a file
  is applied entirely or not at all (a file whose first line is `-- vigil:no-transaction` runs
  outside a transaction and must hold exactly one statement, e.g. CREATE INDEX CONCURRENTLY);
- several processes may migrate at once: a session advisory lock serialises them and the
  latecomers find nothing left to do;
- a file that changed after it was applied is refused (checksum), never silently skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key: the bytes "vigilmig" as a signed 64-bit integer. Advisory locks are
# per database, so two databases on one server never wait for each other.
LOCK_KEY = int.from_bytes(b"vigilmig", "big", signed=True)
NO_TRANSACTION_MARK = "-- vigil:no-transaction"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration could not be applied, or the recorded history disagrees with the files."""


class MigrationChanged(MigrationError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"migration {name} was edited after it was applied; add a new migration instead"
        )
        self.name = name


@dataclass(frozen=True)
class Migration:
    name: str  # recorded in schema_migrations, e.g. "0001_directory" or "timescale/0001_..."
    sql: str
    checksum: str
    transactional: bool = True

    @classmethod
    def from_text(cls, name: str, text: str) -> Migration:
        checksum = hashlib.sha256(text.encode()).hexdigest()
        first_line = text.lstrip().splitlines()[0] if text.strip() else ""
        return cls(name, text, checksum, not first_line.startswith(NO_TRANSACTION_MARK))


def discover(directory: Path = MIGRATIONS_DIR, prefix: str = "") -> list[Migration]:
    """The migration files of a directory in name order; other files are an error."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        if not _NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration.from_text(prefix + path.stem, path.read_text()))
    return found


@dataclass
class MigrateResult:
    applied: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


# A later step (TimescaleDB) gets the locked connection and decides its own migrations.
Step = Callable[[psycopg.Connection], Sequence[Migration]]


def applied_migrations(conn: psycopg.Connection) -> dict[str, str]:
    """name -> checksum of what is recorded; empty before the first migration."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT name, checksum FROM schema_migrations").fetchall()
    return {str(name): str(checksum) for name, checksum in rows}


def apply(
    conn: psycopg.Connection,
    migrations: Sequence[Migration],
    result: MigrateResult,
) -> None:
    """Apply pending migrations in order on a connection that already holds the lock."""
    done = applied_migrations(conn)
    for migration in migrations:
        if migration.name in done:
            if done[migration.name] != migration.checksum:
                raise MigrationChanged(migration.name)
            result.already.append(migration.name)
            continue
        try:
            if migration.transactional:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    _record(conn, migration)
            else:
                conn.execute(migration.sql.encode())
                _record(conn, migration)
        except psycopg.Error as exc:
            raise MigrationError(f"{migration.name}: {exc}") from exc
        result.applied.append(migration.name)


def _record(conn: psycopg.Connection, migration: Migration) -> None:
    conn.execute(
        "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
        (migration.name, migration.checksum),
    )


def migrate(
    database_url: str,
    migrations: Sequence[Migration] | None = None,
    after: Sequence[Step] = (),
) -> MigrateResult:
    """Bring the database up to date; safe to run from several processes at once."""
    result = MigrateResult()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            apply(conn, discover() if migrations is None else migrations, result)
            for step in after:
                apply(conn, step(conn), result)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return result


def pending(database_url: str, migrations: Sequence[Migration] | None = None) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        done = applied_migrations(conn)
    return [m.name for m in (discover() if migrations is None else migrations)
            if m.name not in done]
