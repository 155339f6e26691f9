"""The local servers the rest of the suite relies on behave like the real services."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import psycopg

from devstack.mosquitto import MosquittoBroker
from devstack.postgres import PostgresServer


def test_postgres_survives_restart_with_data(own_postgres: PostgresServer) -> None:
    with psycopg.connect(own_postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    own_postgres.kill()
    own_postgres.start()
    with psycopg.connect(own_postgres.url) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_broker_round_trip(mqtt_broker: MosquittoBroker) -> None:
    got = threading.Event()
    payloads: list[bytes] = []

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        payloads.append(msg.payload)
        got.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect("127.0.0.1", mqtt_broker.port)
    sub.subscribe("devstack/test", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    try:
        import time

        for _ in range(50):  # subscription may not be active yet: publish until seen
            pub.publish("devstack/test", b"hello", qos=1).wait_for_publish(5)
            if got.wait(0.1):
                break
        assert payloads and payloads[0] == b"hello"
        time.sleep(0)
    finally:
        pub.loop_stop()
        sub.loop_stop()
        pub.disconnect()
        sub.disconnect()


def test_broker_acl_pins_gateway_to_its_subtree(own_broker: MosquittoBroker) -> None:
    own_broker.stop()
    own_broker.users = {"gw-a": "pa", "svc": "ps"}
    own_broker.service_users = ("svc",)
    own_broker.start()
    good = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    good.username_pw_set("gw-a", "wrong")
    result: list[object] = []
    good.on_connect = lambda c, u, f, rc, p: result.append(rc)
    good.connect("127.0.0.1", own_broker.port)
    good.loop_start()
    import time

    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        time.sleep(0.05)
    good.loop_stop()
    assert result and getattr(result[0], "is_failure", True), "a wrong password must be refused"
