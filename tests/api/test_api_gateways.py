"""Gateway provisioning against a real Mosquitto: the credentials an admin receives once let
the gateway publish under its own topics and nowhere else; rotation and revocation take
effect when the broker reloads."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from api_helpers import World, settings_for
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from api.app import create_app
from api.broker import verify_mosquitto_hash
from devstack.mosquitto import MosquittoBroker
from vigil.topics import ACL_PATTERNS, Channel, topic

INGEST_USER, INGEST_PASSWORD = "ingest", "ingest-secret"


class Client:
    """A paho client that reports its CONNACK reason and the messages it receives."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"{username}-{uuid.uuid4().hex[:6]}")
        self.client.username_pw_set(username, password)
        self.connack = threading.Event()
        self.subscribed = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.received: list[str] = []
        self.arrived = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: mqtt.ReasonCode, properties: object) -> None:
        self.reason = reason
        self.connack.set()

    def _on_message(self, client: mqtt.Client, userdata: object,
                    message: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.received.append(message.topic)
            self.arrived.notify_all()

    @property
    def accepted(self) -> bool:
        return self.reason is not None and not self.reason.is_failure

    def wait_for_messages(self, count: int) -> list[str]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, 10)
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connects(port: int, username: str, password: str) -> bool:
    client = Client(port, username, password)
    try:
        return client.accepted
    finally:
        client.close()


def eventually(port: int, username: str, password: str, expected: bool) -> None:
    """The broker rereads its files asynchronously after SIGHUP: retry until it has."""
    for _ in range(100):
        if connects(port, username, password) is expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"{username}: connection accepted != {expected} after reload")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "mosquitto", users={INGEST_USER: INGEST_PASSWORD},
                         service_users=(INGEST_USER,)) as running:
        yield running


@pytest.fixture
def provisioning(own_world: World, broker: MosquittoBroker) -> Iterator[TestClient]:
    assert broker.process is not None
    settings = settings_for(own_world.url, broker_password_file=broker.workdir / "passwd",
                            broker_acl_file=broker.workdir / "acl",
                            broker_pid=broker.process.pid, broker_url=broker.url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_provisioned_gateway_publishes_only_under_its_own_topics(
    provisioning: TestClient, own_world: World, broker: MosquittoBroker
) -> None:
    response = provisioning.post("/gateways", headers=own_world.headers("admin"),
                                 json={"id": "gw-home-7", "label": "Flat 7"})
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["username"] == "gw-home-7" and issued["broker_updated"] is True
    assert issued["topics"]["readings"] == topic("gw-home-7", Channel.READINGS)
    password = issued["password"]

    # Stored only as the broker's hash, the same one written to the broker's file.
    lines = (broker.workdir / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == [INGEST_USER, "gw-home-7"]
    with psycopg.connect(own_world.url) as conn:
        stored = conn.execute("SELECT password_hash FROM gateway_credentials").fetchone()
    assert stored is not None and f"gw-home-7:{stored[0]}" in lines
    assert verify_mosquitto_hash(stored[0], password) and password not in str(stored)
    assert all(line in (broker.workdir / "acl").read_text()
               for line in ACL_PATTERNS.splitlines())
    # Shown once: reading the gateway back never shows it again.
    shown = provisioning.get("/gateways/gw-home-7", headers=own_world.headers("admin")).json()
    assert shown["has_credentials"] is True and password not in str(shown)

    eventually(broker.port, "gw-home-7", password, expected=True)
    assert not connects(broker.port, "gw-home-7", "wrong-password")

    ingest = Client(broker.port, INGEST_USER, INGEST_PASSWORD)
    gateway = Client(broker.port, "gw-home-7", password)
    try:
        ingest.client.subscribe("vigil/v1/gw/#", qos=1)
        assert ingest.subscribed.wait(10)
        own = topic("gw-home-7", Channel.READINGS)
        foreign = topic(own_world.gateway_b, Channel.READINGS)
        for name in (own, foreign, topic("gw-home-7", Channel.STATUS)):
            gateway.client.publish(name, b"{}", qos=1).wait_for_publish(10)
        # Messages from one client arrive in order: had the foreign publish been allowed,
        # it would be here before the status message.
        assert ingest.wait_for_messages(2) == [own, topic("gw-home-7", Channel.STATUS)]
    finally:
        gateway.close()
        ingest.close()


def test_rotation_and_revocation(provisioning: TestClient, own_world: World,
                                 broker: MosquittoBroker) -> None:
    admin = own_world.headers("admin")
    first = provisioning.post("/gateways", headers=admin, json={"id": "gw-rot"}).json()
    eventually(broker.port, "gw-rot", first["password"], expected=True)
    second = provisioning.post("/gateways/gw-rot/credentials", headers=admin)
    assert second.status_code == 200
    new_password = second.json()["password"]
    assert new_password != first["password"]
    eventually(broker.port, "gw-rot", first["password"], expected=False)
    eventually(broker.port, "gw-rot", new_password, expected=True)
    assert provisioning.delete("/gateways/gw-rot/credentials", headers=admin).status_code == 204
    eventually(broker.port, "gw-rot", new_password, expected=False)
    assert INGEST_USER in (broker.workdir / "passwd").read_text()
    with psycopg.connect(own_world.url) as conn:
        actions = [r[0] for r in conn.execute(
            "SELECT action FROM audit_log WHERE entity_id = 'gw-rot' ORDER BY seq")]
    assert actions == ["gateway.register", "gateway.credentials", "gateway.rotate",
                       "gateway.revoke"]


def test_registration_errors(provisioning: TestClient, own_world: World) -> None:
    admin = own_world.headers("admin")
    duplicate = provisioning.post("/gateways", headers=admin, json={"id": own_world.gateway_a})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    bad = provisioning.post("/gateways", headers=admin, json={"id": "gw/with/slashes"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == ["body", "id"]
    assert provisioning.post("/gateways/nope/credentials", headers=admin).status_code == 404


def test_unreachable_broker_issues_nothing(own_world: World, tmp_path: Path) -> None:
    settings = settings_for(own_world.url, broker_password_file=tmp_path / "passwd",
                            broker_pid=2**22 + 12345)  # no such process
    with TestClient(create_app(settings)) as client:
        response = client.post("/gateways", headers=own_world.headers("admin"),
                               json={"id": "gw-lost"})
    assert response.status_code == 503
    assert not (tmp_path / "passwd").exists() or "gw-lost" not in (tmp_path / "passwd").read_text()
    with psycopg.connect(own_world.url) as conn:
        assert conn.execute("SELECT count(*) FROM gateways WHERE id = 'gw-lost'"
                            ).fetchone() == (0,)
