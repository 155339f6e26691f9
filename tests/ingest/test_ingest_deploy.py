"""deploy/mosquitto.conf and deploy/mosquitto.acl boot a real Mosquitto and enforce the ACL:
the ingest account reads every gateway's readings, a gateway may publish only as itself."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.mosquitto import find_mosquitto
from devstack.ports import free_port, wait_for_port
from devstack.tls import self_signed
from vigil.topics import ACL_PATTERNS, Channel, topic

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_acl_template_holds_the_contract_patterns() -> None:
    acl = (DEPLOY / "mosquitto.acl").read_text().splitlines()
    assert all(line in acl for line in ACL_PATTERNS.splitlines())


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """The production config with paths and ports moved into tmp_path."""
    for name in ("certs", "auth", "data"):
        (tmp_path / name).mkdir()
    certs = tmp_path / "certs"
    _, cert = self_signed(certs)
    (certs / "ca.crt").write_bytes(cert.read_bytes())
    passwd = tmp_path / "auth" / "passwd"
    passwd.write_text("")
    for user in ("ingest", "gw-one", "gw-two"):
        subprocess.run(["mosquitto_passwd", "-b", passwd, user, f"pw-{user}"], check=True)
    (tmp_path / "auth" / "acl").write_text((DEPLOY / "mosquitto.acl").read_text())
    tls_port, plain_port = free_port(), free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/", f"{tmp_path}/").replace("listener 8883",
                                                                 f"listener {tls_port}")
    conf = conf.replace("listener 1883", f"listener {plain_port} 127.0.0.1")
    conf = conf.replace("max_queued_bytes 4000000000", "max_queued_bytes 100000000")
    conf += "\nuser root\n" if subprocess.run(["id", "-u"], capture_output=True,
                                              text=True).stdout.strip() == "0" else ""
    (tmp_path / "mosquitto.conf").write_text(conf)
    log = open(tmp_path / "broker.log", "wb")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen([find_mosquitto(), "-c", str(tmp_path / "mosquitto.conf")],
                               stdout=log, stderr=log)
    try:
        wait_for_port(plain_port, 10)
        wait_for_port(tls_port, 10)
    except TimeoutError:
        process.kill()
        raise AssertionError((tmp_path / "broker.log").read_text()) from None
    yield plain_port, tls_port, certs / "ca.crt"
    process.kill()
    process.wait()


def _client(port: int, user: str, ca: Path | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, f"pw-{user}")
    if ca is not None:
        client.tls_set(ca_certs=str(ca))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_production_config_boots_and_enforces_the_acl(
    production_broker: tuple[int, int, Path],
) -> None:
    plain_port, tls_port, ca = production_broker
    received: list[str] = []
    got = threading.Event()
    ingest = _client(plain_port, "ingest")

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.topic)
        got.set()

    ingest.on_message = on_message
    subscribed = threading.Event()
    ingest.on_subscribe = lambda *a: subscribed.set()
    ingest.subscribe("vigil/v1/gw/+/+/readings", qos=1)
    assert subscribed.wait(5)
    gateway = _client(tls_port, "gw-one", ca)  # over TLS, like the field
    for _ in range(50):
        if gateway.is_connected():
            break
        time.sleep(0.1)
    # Its own topic goes through; posing as another gateway is silently dropped by the ACL.
    gateway.publish(topic("gw-two", Channel.READINGS), b"forged", qos=1).wait_for_publish(5)
    gateway.publish(topic("gw-one", Channel.READINGS), b"mine", qos=1).wait_for_publish(5)
    assert got.wait(5)
    time.sleep(0.3)
    assert received == [topic("gw-one", Channel.READINGS)]
    for client in (ingest, gateway):
        client.disconnect()
        client.loop_stop()
