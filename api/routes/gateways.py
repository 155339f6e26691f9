"""Gateway provisioning (admin): register a gateway and issue its MQTT credentials once; the
broker's password file and ACL are updated and the broker reloaded, so the gateway may publish
only under its own topic subtree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
import psycopg
from fastapi import APIRouter, Path, Request, Response, status

from api import audit
from api.auth import AdminViewer, Settings, client_ip
from api.broker import BrokerConfigError, BrokerFiles, generate_password, mosquitto_hash
from api.db import Conn, Connection
from api.models.gateways import (
    GatewayCreate,
    GatewayCredentials,
    GatewayOut,
    GatewayOutList,
    GatewayTopics,
)
from api.problems import ProblemError, not_found, responses
from api.routes.status import allowances
from api.settings import ApiSettings
from api.status import GATEWAY_COLUMNS, gateway_status
from vigil.topics import Channel, topic

router = APIRouter(prefix="/gateways", tags=["gateways"])

GatewayId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def broker_files(settings: ApiSettings) -> BrokerFiles:
    return BrokerFiles(password_file=settings.broker_password_file,
                       acl_file=settings.broker_acl_file, pid=settings.broker_pid,
                       pid_file=settings.broker_pid_file)


async def _issue(conn: Connection, settings: ApiSettings, viewer: AdminViewer, gateway_id: str,
                 request: Request, action: str) -> GatewayCredentials:
    """New password, stored as the broker's hash, written to the broker, audited. Runs inside
    the caller's transaction: if the broker cannot be updated nothing is committed."""
    password = generate_password()
    hashed = mosquitto_hash(password)
    cur = await conn.execute(
        """
        INSERT INTO gateway_credentials (gateway_id, username, password_hash, created_by)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (gateway_id) DO UPDATE SET password_hash = EXCLUDED.password_hash,
            rotated_at = now(), revoked_at = NULL, created_by = EXCLUDED.created_by
        RETURNING coalesce(rotated_at, created_at)
        """,
        (gateway_id, gateway_id, hashed, viewer.id))
    row = await cur.fetchone()
    assert row is not None
    try:
        updated = await anyio.to_thread.run_sync(broker_files(settings).install, gateway_id,
                                                 hashed)
    except BrokerConfigError as exc:
        raise ProblemError(503, f"credentials not issued: {exc}") from None
    await audit.record(conn, actor_id=viewer.id, action=action, entity_type="gateway",
                       entity_id=gateway_id, client_ip=client_ip(request),
                       details={"broker_updated": updated})
    return GatewayCredentials(
        gateway_id=gateway_id, username=gateway_id, password=password,
        broker_url=settings.broker_url, broker_updated=updated, issued_at=row[0],
        topics=GatewayTopics(**{c.value: topic(gateway_id, c) for c in Channel}))


@router.post("", response_model=GatewayCredentials, status_code=status.HTTP_201_CREATED,
             responses=responses(401, 403, 409, 422, 503))
async def register_gateway(
    body: GatewayCreate, conn: Conn, viewer: AdminViewer, settings: Settings, request: Request,
) -> GatewayCredentials:
    """Register a gateway in your organisation and receive its MQTT password, once."""
    async with conn.transaction():
        try:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO gateways (id, organisation_id, label) VALUES (%s, %s, %s)",
                    (body.id, viewer.organisation_id, body.label))
        except psycopg.errors.UniqueViolation:
            raise ProblemError(409, f"gateway {body.id} already exists") from None
        await audit.record(conn, actor_id=viewer.id, action="gateway.register",
                           entity_type="gateway", entity_id=body.id,
                           client_ip=client_ip(request), details={"label": body.label})
        return await _issue(conn, settings, viewer, body.id, request, "gateway.credentials")


async def _own_gateway(conn: Connection, viewer: AdminViewer, gateway_id: str) -> None:
    cur = await conn.execute("SELECT 1 FROM gateways WHERE id = %s AND organisation_id = %s",
                             (gateway_id, viewer.organisation_id))
    if await cur.fetchone() is None:
        raise not_found("gateway")


@router.post("/{gateway_id}/credentials", response_model=GatewayCredentials,
             responses=responses(401, 403, 404, 422, 503))
async def rotate_credentials(
    gateway_id: GatewayId, conn: Conn, viewer: AdminViewer, settings: Settings,
    request: Request,
) -> GatewayCredentials:
    """Issue a new password (the old one stops working when the broker reloads)."""
    async with conn.transaction():
        await _own_gateway(conn, viewer, gateway_id)
        return await _issue(conn, settings, viewer, gateway_id, request, "gateway.rotate")


@router.delete("/{gateway_id}/credentials", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(401, 403, 404, 422, 503))
async def revoke_credentials(
    gateway_id: GatewayId, conn: Conn, viewer: AdminViewer, settings: Settings,
    request: Request,
) -> Response:
    """Revoke the gateway's broker access."""
    async with conn.transaction():
        await _own_gateway(conn, viewer, gateway_id)
        await conn.execute(
            "UPDATE gateway_credentials SET revoked_at = now() WHERE gateway_id = %s",
            (gateway_id,))
        try:
            updated = await anyio.to_thread.run_sync(broker_files(settings).install,
                                                     gateway_id, None)
        except BrokerConfigError as exc:
            raise ProblemError(503, f"credentials not revoked: {exc}") from None
        await audit.record(conn, actor_id=viewer.id, action="gateway.revoke",
                           entity_type="gateway", entity_id=gateway_id,
                           client_ip=client_ip(request), details={"broker_updated": updated})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_LIST = f"""
    SELECT {GATEWAY_COLUMNS}, c.gateway_id IS NOT NULL AND c.revoked_at IS NULL,
           coalesce(c.rotated_at, c.created_at), c.revoked_at, now()
    FROM gateways g LEFT JOIN gateway_credentials c ON c.gateway_id = g.id
    WHERE g.organisation_id = %s AND (%s::text IS NULL OR g.id = %s)
    ORDER BY g.id
"""


async def _gateways(conn: Connection, viewer: AdminViewer, settings: ApiSettings,
                    gateway_id: str | None) -> tuple[datetime, list[GatewayOut]]:
    cur = await conn.execute(_LIST.encode(), (viewer.organisation_id, gateway_id, gateway_id))
    rows = await cur.fetchall()
    now = rows[0][-1] if rows else datetime.now(UTC)
    allow = allowances(settings)
    out = [GatewayOut(**gateway_status(row[:10], now, allow).model_dump(),
                      has_credentials=row[10], credentials_issued_at=row[11],
                      credentials_revoked_at=row[12]) for row in rows]
    return now, out


@router.get("", response_model=GatewayOutList, responses=responses(401, 403))
async def list_gateways(conn: Conn, viewer: AdminViewer, settings: Settings) -> GatewayOutList:
    """Your organisation's gateways with online/offline state and last-seen age."""
    now, gateways = await _gateways(conn, viewer, settings, None)
    return GatewayOutList(checked_at=now, gateways=gateways)


@router.get("/{gateway_id}", response_model=GatewayOut,
            responses=responses(401, 403, 404, 422))
async def get_gateway(
    gateway_id: GatewayId, conn: Conn, viewer: AdminViewer, settings: Settings
) -> GatewayOut:
    _, gateways = await _gateways(conn, viewer, settings, gateway_id)
    if not gateways:
        raise not_found("gateway")
    return gateways[0]
