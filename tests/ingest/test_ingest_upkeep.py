"""Statuses and events of many gateways in one flush (ingest.upkeep, set-based in waves) end
exactly as they would written one message per flush, statement by statement."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import chain, zip_longest
from typing import Any

import psycopg
from ingest_helpers import Fleet, seed_fleet, write

from ingest.decoding import decode_message
from ingest.upkeep import Upkeep
from ingest.writer import Incoming
from vigil.messages import (
    DeviceEvent,
    DeviceEventKind,
    DeviceState,
    GatewayState,
    GatewayStatus,
    encode,
)
from vigil.topics import Channel, topic


def script(gw: str, devices: list[str], base: datetime, rng: random.Random,
           steps: int = 6) -> list[Incoming]:
    """A gateway's messages: online with device reports, last wills, retained replays,
    battery and connection events, heartbeats without devices, in a random order."""
    out: list[Incoming] = []
    for i in range(steps):
        at = base + timedelta(seconds=i)
        kind = rng.choice(["online", "will", "retained", "event", "event", "heartbeat"])
        if kind == "event":
            name = topic(gw, Channel.EVENTS)
            event = DeviceEvent.new(gateway_id=gw, device_id=rng.choice(devices),
                                    event=DeviceEventKind.BATTERY, at=at,
                                    battery_level=rng.randint(0, 100))
            out.append(Incoming(name, decode_message(name, encode(event), at), at))
            continue
        name = topic(gw, Channel.STATUS)
        if kind == "will":
            status = GatewayStatus(gateway_id=gw, state=GatewayState.OFFLINE, at=base,
                                   reason="connection lost")
        else:
            reports = [] if kind == "heartbeat" else [
                DeviceState(device_id=d, connected=True, battery_level=rng.randint(0, 100),
                            last_seen=at - timedelta(seconds=rng.randint(0, 30)))
                for d in devices]
            status = GatewayStatus(gateway_id=gw, state=GatewayState.ONLINE, at=at,
                                   software_version=f"1.{i}", outbox_depth=rng.randint(0, 50),
                                   heartbeat_interval_s=rng.choice([None, 30.0, 60.0]),
                                   devices=reports)
        retained = kind == "retained"
        out.append(Incoming(name, decode_message(name, encode(status), at, retained=retained),
                            at))
    return out


def outcome(url: str, gw: str, devices: list[str]) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        gateway = conn.execute(
            "SELECT status, status_at, status_reason, software_version, outbox_depth, "
            "oldest_pending_at, heartbeat_interval_s FROM gateways WHERE id = %s",
            (gw,)).fetchone()
        rows = conn.execute(
            "SELECT battery_level, last_seen FROM devices WHERE address = ANY(%s) "
            "ORDER BY address", (devices,)).fetchall()
        events = conn.execute(
            "SELECT event, at, battery_level, device_id IS NOT NULL FROM device_events "
            "WHERE gateway_id = %s ORDER BY at", (gw,)).fetchall()
    return gateway, rows, events


def test_many_gateways_in_one_flush_end_as_one_message_per_flush(db_url: str) -> None:
    fleet: Fleet = seed_fleet(db_url, gateways=8)
    together, apart = fleet.gateways[:4], fleet.gateways[4:]
    base = datetime.now(UTC) - timedelta(minutes=5)
    scripts: dict[str, list[Incoming]] = {}
    for i, (a, b) in enumerate(zip(together, apart, strict=True)):
        # The same script for a pair: same seed, each gateway's own devices.
        scripts[a] = script(a, fleet.devices_of(a), base, random.Random(i))
        scripts[b] = script(b, fleet.devices_of(b), base, random.Random(i))
    # Interleaved as they would arrive: several waves, several gateways in each.
    merged = [m for m in chain.from_iterable(zip_longest(*(scripts[g] for g in together)))
              if m is not None]
    write(db_url, merged)
    for gw in apart:
        for item in scripts[gw]:
            write(db_url, [item])
    for a, b in zip(together, apart, strict=True):
        got, want = outcome(db_url, a, fleet.devices_of(a)), outcome(db_url, b,
                                                                    fleet.devices_of(b))
        assert got == want


def test_waves_follow_each_gateways_message_count() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    upkeep = Upkeep()
    for gw, n in (("a", 3), ("b", 1), ("c", 2)):
        for i in range(n):
            status = GatewayStatus(gateway_id=gw, state=GatewayState.ONLINE,
                                   at=at + timedelta(seconds=i))
            name = topic(gw, Channel.STATUS)
            message = decode_message(name, encode(status), at)
            upkeep.status(message, at)  # type: ignore[arg-type]
    ids = [params[0] for _, params in upkeep.statements()]
    assert ids == [["a", "b", "c"], ["a", "c"], ["a"]]
