"""The live alert stream (SSE over LISTEN/NOTIFY): an alert written straight into the database,
as ingest would, reaches the clinicians of the patient's team and nobody else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import psycopg
import pytest
from api_helpers import ServerThread, World, bearer, insert_alert, settings_for, token_for

from api.app import create_app
from api.security import Role


@dataclass
class Event:
    name: str
    data: str
    id: str | None = None


def events(lines: Iterator[str]) -> Iterator[Event]:
    """Parse an SSE line stream; comments come out as events named ':'."""
    name, data, event_id = "message", [], None
    for line in lines:
        if line.startswith(":"):
            yield Event(":", line[1:].strip())
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line == "" and data:
            yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None


def next_named(stream: Iterator[Event], *names: str) -> Event:
    for event in stream:
        if event.name in names:
            return event
    raise AssertionError(f"stream ended before {names}")


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[ServerThread]:
    with ServerThread(create_app(settings_for(world.url))) as running:
        yield running


def _insert(world: World, patient: int, rule_key: str) -> int:
    with psycopg.connect(world.url) as conn:
        alert_id = insert_alert(conn, patient, rule_key=rule_key)
        conn.commit()
    return alert_id


def test_alert_reaches_its_team_only(server: ServerThread, world: World) -> None:
    timeout = httpx.Timeout(30.0)
    with httpx.Client(base_url=server.url, timeout=timeout) as alice_http, \
            httpx.Client(base_url=server.url, timeout=timeout) as bob_http, \
            alice_http.stream("GET", "/alerts/stream", headers=world.headers("alice")) as a, \
            bob_http.stream("GET", "/alerts/stream", headers=world.headers("bob")) as b:
        assert a.status_code == b.status_code == 200
        assert a.headers["content-type"].startswith("text/event-stream")
        alice, bob = events(a.iter_lines()), events(b.iter_lines())
        assert json.loads(next_named(alice, "ready").data) == {"user_id": world.alice}
        next_named(bob, "ready")
        # In commit order: B's alert, then A's, then another of B's.
        first_b = _insert(world, world.patient_b, "missing:spo2")
        first_a = _insert(world, world.patient_a, "missing:spo2")
        second_b = _insert(world, world.patient_b, "threshold:pulse_rate")
        got = json.loads(next_named(alice, "alert").data)
        assert (got["id"], got["patient_id"]) == (first_a, world.patient_a)
        assert got["state"] == "open" and got["rule_key"] == "missing:spo2"
        assert [json.loads(next_named(bob, "alert").data)["id"] for _ in range(2)] == [
            first_b, second_b]
        # A clinician action is streamed too, with who did it.
        with httpx.Client(base_url=server.url, timeout=timeout) as api:
            api.post(f"/alerts/{first_a}/acknowledge", headers=world.headers("alice"),
                     json={"note": "on it"})
        acked = json.loads(next_named(alice, "alert").data)
        assert (acked["id"], acked["state"], acked["last_action"]) == (
            first_a, "acknowledged", "acknowledge")
        assert next_named(alice, ":").data == "keep-alive"


def test_reconnect_replays_what_was_missed(server: ServerThread, world: World) -> None:
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        with http.stream("GET", "/alerts/stream", headers=world.headers("alice")) as first:
            stream = events(first.iter_lines())
            next_named(stream, "ready")
            seen = _insert(world, world.patient_a, "threshold:heart_rate")
            event = next_named(stream, "alert")
            assert json.loads(event.data)["id"] == seen and event.id is not None
        missed = _insert(world, world.patient_a, "threshold:body_temperature")
        _insert(world, world.patient_b, "threshold:body_temperature")
        headers = {**world.headers("alice"), "Last-Event-ID": event.id}
        with http.stream("GET", "/alerts/stream", headers=headers) as second:
            stream = events(second.iter_lines())
            next_named(stream, "ready")
            replayed = []
            while missed not in replayed:
                replayed.append(json.loads(next_named(stream, "alert").data)["id"])
            assert world.alert_b not in replayed


def test_stream_needs_a_valid_token(server: ServerThread, world: World) -> None:
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        assert http.get("/alerts/stream").status_code == 401
        expired = token_for(world.alice, Role.CLINICIAN, ttl=timedelta(seconds=-1))
        response = http.get("/alerts/stream", headers=bearer(expired))
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


def test_stream_closes_when_the_token_expires(server: ServerThread, world: World) -> None:
    short = token_for(world.alice, Role.CLINICIAN, ttl=timedelta(seconds=2))
    with httpx.Client(base_url=server.url, timeout=30.0) as http, \
            http.stream("GET", "/alerts/stream", headers=bearer(short)) as response:
        names = [event.name for event in events(response.iter_lines())]
    assert names[0] == "ready" and names[-1] == "token_expired"


def test_lost_listen_connection_resyncs_clients(server: ServerThread, world: World) -> None:
    with httpx.Client(base_url=server.url, timeout=30.0) as http, \
            http.stream("GET", "/alerts/stream", headers=world.headers("alice")) as response:
        stream = events(response.iter_lines())
        next_named(stream, "ready")
        with psycopg.connect(world.url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = 'LISTEN vigil_alerts'"
            ).fetchall()
        assert killed == [(True,)]
        # Changes during the outage are not lost on the client: it is told to re-read.
        assert "reconnected" in json.loads(next_named(stream, "resync").data)["reason"]
        after = _insert(world, world.patient_a, "threshold:respiratory_rate")
        assert json.loads(next_named(stream, "alert").data)["id"] == after
