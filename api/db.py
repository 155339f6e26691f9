"""The database pool and the per-request connection.

Connections are in autocommit mode: a read is one statement, and every write that needs
atomicity opens `conn.transaction()` explicitly. That also lets a failed sign-in be recorded
(committed) before the request answers 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.settings import ApiSettings

Connection = AsyncConnection[tuple[Any, ...]]


async def _configure(conn: Connection) -> None:
    await conn.set_autocommit(True)
    # Times come back in UTC whatever the server's default, so ages are computed consistently.
    await conn.execute("SET TIME ZONE 'UTC'")


def create_pool(settings: ApiSettings) -> AsyncConnectionPool[Connection]:
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        configure=_configure,
        open=False,
        name="vigil-api",
    )


def get_pool(request: Request) -> AsyncConnectionPool[Connection]:
    pool: AsyncConnectionPool[Connection] = request.app.state.pool
    return pool


async def get_conn(request: Request) -> AsyncIterator[Connection]:
    async with get_pool(request).connection() as conn:
        yield conn


Conn = Annotated[Connection, Depends(get_conn)]
