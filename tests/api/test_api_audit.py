"""The audit log: append-only (the database refuses changes) and tamper-evident (a hash chain
that the verify endpoint recomputes)."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading

import psycopg
import pytest
from api_helpers import World
from fastapi.testclient import TestClient


def _act(client: TestClient, world: World) -> None:
    headers = world.headers("alice")
    client.post(f"/alerts/{world.alert_a}/acknowledge", headers=headers, json={"note": "seen"})
    client.put(f"/patients/{world.patient_a}/rules", headers=headers,
               json={"condition": "copd"})
    client.post(f"/alerts/{world.alert_a}/resolve", headers=headers, json={"note": "ok"})


def _verify(client: TestClient, world: World) -> dict[str, object]:
    response = client.get("/audit/verify", headers=world.headers("admin"))
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def _bypass_triggers(url: str, statement: str) -> None:
    """What only a superuser could do: edit the table with its triggers disabled."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement)


def test_actions_are_chained_and_verify(own_client: TestClient, own_world: World) -> None:
    _act(own_client, own_world)
    page = own_client.get("/audit", headers=own_world.headers("admin")).json()
    entries = page["entries"]
    assert [e["action"] for e in entries] == ["alert.acknowledge", "rules.update",
                                              "alert.resolve"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == "00" * 32
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["hash"]
    assert entries[1]["details"]["after"] == {"condition": "copd", "overrides": {}}
    assert entries[0]["actor_name"] == "Alice Clinician"
    verdict = _verify(own_client, own_world)
    assert verdict == {"ok": True, "rows_checked": 3, "first_bad_seq": None, "problem": None,
                       "head_seq": 3, "head_hash": entries[-1]["hash"]}
    second = own_client.get("/audit?after_seq=1&limit=1",
                            headers=own_world.headers("admin")).json()
    assert [e["seq"] for e in second["entries"]] == [2] and second["next_after_seq"] == 2


def test_hash_covers_the_documented_canonical_content(own_client: TestClient,
                                                      own_world: World) -> None:
    _act(own_client, own_world)
    with psycopg.connect(own_world.url) as conn:
        row = conn.execute(
            "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
            "actor_id, action, entity_type, entity_id, patient_id, client_ip, details::text, "
            "prev_hash, hash FROM audit_log WHERE seq = 2").fetchone()
    assert row is not None
    *fields, details, prev_hash, stored = row
    content = json.dumps([*fields, json.loads(details)], separators=(", ", ": "))
    # Recomputed outside the database from the row's fields alone.
    db_content = conn_content(own_world.url, 2)
    assert json.loads(db_content) == json.loads(content)
    assert hashlib.sha256(prev_hash + db_content.encode()).digest() == stored


def conn_content(url: str, seq: int) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT convert_from(vigil_audit_content(seq, at, actor_id, action, entity_type, "
            "entity_id, patient_id, client_ip, details), 'UTF8') FROM audit_log WHERE seq = %s",
            (seq,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(("statement", "bad_seq", "problem"), [
    ("UPDATE audit_log SET details = '{\"note\": \"nothing to see\"}' WHERE seq = 2", 2,
     "row content does not match its hash"),
    ("UPDATE audit_log SET actor_id = NULL WHERE seq = 1", 1,
     "row content does not match its hash"),
    ("DELETE FROM audit_log WHERE seq = 2", 3, "sequence gap before this row"),
    # A forger who recomputes the edited row's own hash still breaks the next link.
    ("UPDATE audit_log SET action = 'rules.view', hash = sha256(prev_hash || "
     "vigil_audit_content(seq, at, actor_id, 'rules.view', entity_type, entity_id, patient_id, "
     "client_ip, details)) WHERE seq = 2", 3,
     "prev_hash does not match the previous row's hash"),
])
def test_tampering_is_detected(own_client: TestClient, own_world: World, statement: str,
                               bad_seq: int, problem: str) -> None:
    _act(own_client, own_world)
    assert _verify(own_client, own_world)["ok"] is True
    _bypass_triggers(own_world.url, statement)
    verdict = _verify(own_client, own_world)
    assert verdict["ok"] is False
    assert verdict["first_bad_seq"] == bad_seq and verdict["problem"] == problem


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET details = '{}'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
def test_changes_are_refused(own_client: TestClient, own_world: World, statement: str) -> None:
    _act(own_client, own_world)
    with psycopg.connect(own_world.url, autocommit=True) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="append-only"
    ):
        conn.execute(statement)
    assert _verify(own_client, own_world)["rows_checked"] == 3


def test_writers_cannot_forge_chain_fields(own_db: str) -> None:
    with psycopg.connect(own_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO audit_log (seq, at, action, entity_type, prev_hash, hash) VALUES "
            "(42, '2000-01-01', 'test.forged', 'x', decode(repeat('ab', 32), 'hex'), "
            "decode(repeat('cd', 32), 'hex'))")
        row = conn.execute("SELECT seq, at > '2020-01-01', prev_hash FROM audit_log").fetchone()
        verdict = conn.execute("SELECT first_bad_seq FROM vigil_audit_verify()").fetchone()
    assert row == (1, True, bytes(32)) and verdict == (None,)


def test_concurrent_writers_keep_one_unbroken_chain(own_db: str) -> None:
    def write(n: int) -> None:
        with psycopg.connect(own_db, autocommit=True) as conn:
            for i in range(20):
                conn.execute("SELECT vigil_audit_append(NULL, 'test.concurrent', 'x', %s, "
                             "NULL, NULL, '{}')", (f"{n}-{i}",))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(own_db) as conn:
        verdict = conn.execute("SELECT rows_checked, first_bad_seq FROM vigil_audit_verify()"
                               ).fetchone()
    assert verdict == (80, None)
