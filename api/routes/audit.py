"""The audit log (admin): read it page by page and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.rows import class_row

from api.auth import AdminViewer
from api.db import Conn
from api.models.audit import AuditEntry, AuditPage, AuditVerification
from api.problems import responses
from api.scope import MAX_ID

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditPage, responses=responses(401, 403, 422))
async def read_audit(
    conn: Conn,
    viewer: AdminViewer,
    after_seq: Annotated[int, Query(ge=0, le=2**63 - 2)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Entries about your organisation (its users and patients), oldest first."""
    async with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        await cur.execute(
            """
            SELECT a.seq, a.at, a.actor_id, u.display_name AS actor_name, a.action,
                   a.entity_type, a.entity_id, a.patient_id, a.client_ip, a.details,
                   encode(a.prev_hash, 'hex') AS prev_hash, encode(a.hash, 'hex') AS hash
            FROM audit_log a
            LEFT JOIN users u ON u.id = a.actor_id
            LEFT JOIN patients p ON p.id = a.patient_id
            WHERE a.seq > %(after)s
              AND (u.organisation_id = %(org)s OR p.organisation_id = %(org)s)
              AND (%(patient)s::int IS NULL OR a.patient_id = %(patient)s)
              AND (%(actor)s::int IS NULL OR a.actor_id = %(actor)s)
              AND (%(action)s::text IS NULL OR a.action = %(action)s)
            ORDER BY a.seq LIMIT %(limit)s
            """,
            {"after": after_seq, "org": viewer.organisation_id, "patient": patient_id,
             "actor": actor_id, "action": action.replace("\x00", "") if action else None,
             "limit": limit})
        entries = await cur.fetchall()
    return AuditPage(entries=entries,
                     next_after_seq=entries[-1].seq if len(entries) == limit else None)


@router.get("/verify", response_model=AuditVerification, responses=responses(401, 403))
async def verify_audit(conn: Conn, viewer: AdminViewer) -> AuditVerification:
    """Recompute the whole hash chain: any edited, inserted or removed entry is reported."""
    cur = await conn.execute("SELECT * FROM vigil_audit_verify()")
    row = await cur.fetchone()
    assert row is not None
    rows_checked, first_bad, problem, head_seq, head_hash = row
    return AuditVerification(ok=first_bad is None, rows_checked=rows_checked,
                             first_bad_seq=first_bad, problem=problem, head_seq=head_seq,
                             head_hash=head_hash)
