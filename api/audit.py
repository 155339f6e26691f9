"""Writing and verifying the audit log (migration 0102: a hash chain kept by the database).

Call `record` inside the same transaction as the change it describes, so the change and its
audit entry commit together or not at all.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from api.db import Connection


async def record(
    conn: Connection,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: str | int | None = None,
    patient_id: int | None = None,
    client_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry; returns its sequence number."""
    cur = await conn.execute(
        "SELECT vigil_audit_append(%s, %s, %s, %s, %s, %s, %s)",
        (actor_id, action, entity_type, None if entity_id is None else str(entity_id),
         patient_id, client_ip, Jsonb(details or {})),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])
