"""The whole system for fault tests: Mosquitto, `vigil ingest` (a subprocess we may SIGKILL and
restart with the same MQTT session: tests/vigil_stack.py), PostgreSQL, and a simulated fleet or
a raw gateway client.

Every process here is started by the test and stopped or killed by its own PID."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from vigil_stack import Ingest

from simulators.fleet.config import FleetConfig
from simulators.fleet.engine import FleetRun
from simulators.fleet.enrol import enrol_fleet
from simulators.fleet.report import FleetReport
from vigil.messages import Ack
from vigil.topics import Channel, topic

__all__ = ["FleetThread", "Ingest", "RawGateway", "assert_fleet_oracle", "dead_letter_reasons",
           "stored_ids", "wait_for"]


class FleetThread:
    """A FleetRun in a thread, enrolled first, so a test can break things while it runs."""

    def __init__(self, config: FleetConfig, database_url: str) -> None:
        self.run = FleetRun(config)
        enrol_fleet(database_url, self.run.roster)
        self._result: list[FleetReport] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self._result.append(self.run.run())
        except BaseException as exc:  # surfaced by report()
            self._error.append(exc)

    def start(self) -> FleetThread:
        self._thread.start()
        return self

    def wait_acked(self, at_least: int, timeout: float = 60.0) -> None:
        wait_for(lambda: self.run.tally.acked >= at_least, timeout,
                 lambda: f"fleet acked {self.run.tally.acked} < {at_least}")

    def report(self, timeout: float = 150.0) -> FleetReport:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the fleet did not finish"
        if self._error:
            raise self._error[0]
        return self._result[0]

    def generated_ids(self) -> set[str]:
        ids: set[str] = set()
        for gateway in self.run.gateways:
            ids |= gateway.outbox.confirmed | set(gateway.outbox.inflight)
            ids |= {r.id for r in gateway.outbox.unsent}
        return ids


class RawGateway:
    """A client that publishes whatever bytes a test gives it under one gateway's topics and
    collects the Acks: for hostile, duplicated and reordered traffic the fleet would not send."""

    def __init__(self, broker_url: str, gateway: str, username: str | None = None,
                 password: str | None = None) -> None:
        host, port = broker_url.removeprefix("mqtt://").rsplit("@", 1)[-1].split(":")
        self.gateway = gateway
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"raw-{gateway}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(0)
        self.acks: list[Ack] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic(gateway, Channel.ACK), 1)
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert subscribed.wait(10), "no subscription to our ack topic"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acks.append(Ack.model_validate_json(msg.payload))

    def publish(self, payload: bytes, channel: Channel = Channel.READINGS) -> None:
        self.client.publish(topic(self.gateway, channel), payload, qos=1).wait_for_publish(10)

    def confirmed(self) -> set[str]:
        with self._lock:
            return {i for a in self.acks for i in a.stored} | {
                r.id for a in self.acks for r in a.rejected}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0,
             message: Callable[[], str] = lambda: "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {message()}")
        time.sleep(0.1)


def stored_ids(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT reading_id FROM readings")]


def dead_letter_reasons(database_url: str, gateway: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT reason FROM dead_letters WHERE gateway_id = %s", (gateway,))]


def assert_fleet_oracle(fleet: FleetThread, report: FleetReport, database_url: str) -> None:
    """Nothing lost, nothing doubled: the ids generated equal the ids stored, each once."""
    stored = stored_ids(database_url)
    ours = {i for i in stored if i in fleet.generated_ids()}
    assert report.readings_lost == 0, f"lost {report.readings_lost}"
    assert report.readings_acked == report.readings_generated
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert ours == fleet.generated_ids(), "ids generated and ids stored differ"
    assert report.database is not None
    assert (report.database.duplicates, report.database.missing) == (0, 0)
