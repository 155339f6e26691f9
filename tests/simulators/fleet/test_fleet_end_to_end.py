"""The fleet against the real stack: Mosquitto, `vigil ingest` and PostgreSQL.

Oracle throughout: the set of reading ids the fleet generated against the set stored, with
the report's own figures required to agree with both.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from fleet_stack import Ingest, Stack, next_note, quick_broker, reading_ids, stop_quietly
from paho.mqtt.enums import CallbackAPIVersion

from simulators.fleet.cli import main
from simulators.fleet.config import ConnectionMode, FleetConfig
from simulators.fleet.credentials import provision_credentials
from simulators.fleet.engine import FleetError, FleetRun, plan_fleet, run_fleet
from simulators.fleet.enrol import enrol_fleet
from simulators.fleet.network import Network
from simulators.fleet.report import FleetReport
from simulators.fleet.transport import Endpoint, Link, Note
from vigil.metrics import CATALOGUE, Metric
from vigil.topics import Channel, topic


def generated_ids(run: FleetRun) -> set[str]:
    ids: set[str] = set()
    for gateway in run.gateways:
        ids |= gateway.outbox.confirmed | set(gateway.outbox.inflight)
        ids |= {r.id for r in gateway.outbox.unsent}
    return ids


def assert_database_agrees(run: FleetRun, report: FleetReport, database_url: str) -> None:
    stored = reading_ids(database_url)
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert set(stored) == generated_ids(run), "ids sent and ids stored differ"
    assert report.database is not None
    assert report.database.rows == len(stored) == report.readings_stored
    assert (report.database.duplicates, report.database.missing,
            report.database.unexpected) == (0, 0, 0)


def test_small_fleet_end_to_end_loses_nothing(stack: Stack) -> None:
    config = FleetConfig(mqtt_url=stack.mqtt_url, gateways=5, devices_per_gateway=3, speed=10,
                         duration_s=4, prefix="small", database_url=stack.database_url,
                         alert_settle_s=0)
    run = FleetRun(config)
    summary = enrol_fleet(stack.database_url, run.roster)
    assert (summary.gateways_created, summary.devices_created) == (5, 15)
    # Enrolling again finds everything in place.
    assert enrol_fleet(stack.database_url, run.roster).enrolments_created == 0
    report = run.run()
    assert report.readings_generated >= 200
    assert report.readings_lost == 0 and report.readings_acked == report.readings_generated
    assert report.duplicate_acks == 0 and report.unknown_acks == 0
    assert report.readings_rejected == 0 and report.publishes_denied == 0
    assert report.latency.count == report.readings_acked
    assert_database_agrees(run, report, stack.database_url)
    assert report.ok
    with psycopg.connect(stack.database_url) as conn:
        statuses: dict[str, str] = dict(conn.execute(
            "SELECT id, status FROM gateways WHERE id LIKE 'small-gw-%'").fetchall())
    # Heard from, and told cleanly that the run is over.
    assert statuses == {g.id: "offline" for g in run.gateways}


SCENARIO = """
name = "desat"
duration = "20m"

[[patients]]
id = "desat-1"
condition = "copd"
seed = 2002
gateway = "gw-desat-1"

[[patients.devices]]
id = "desat-1-ox"
kind = "pulse_oximeter"
interval = "10s"

[[patients.events]]
kind = "desaturation"
start = "6m"
duration = "10m"
onset = "1m"
recovery = "1m"
nadir_spo2 = 80

[fleet]
gateways = 3
devices_per_gateway = 1
mix = "caseload"  # generated homes measure twice a day: the scenario patient is the load
duration = "4s"
seed = 9
"""


def test_scenario_file_drives_the_values_through_the_command(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "desat.toml"
    path.write_text(SCENARIO)
    code = main(["--scenario", str(path), "--mqtt-url", stack.mqtt_url,
                 "--enrol", stack.database_url, "--prefix", "scn", "--alert-settle", "10",
                 "--json", "--quiet"])
    report = FleetReport.model_validate(json.loads(capsys.readouterr().out))
    assert code == (0 if report.ok else 1)
    assert (report.gateways, report.readings_lost, report.simulated_s // 60) == (3, 0, 19)
    assert report.database is not None and report.database.missing == 0
    assert report.alerts is not None
    expected = {(a.patient, a.rule) for a in report.alerts.expected}
    assert expected >= {("desat-1", "threshold:spo2")}
    # Ingest evaluated the rules on the readings the scenario drove.
    raised = {(a.patient, a.rule) for a in report.alerts.raised}
    assert ("desat-1", "threshold:spo2") in raised
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            "SELECT r.measured_at, r.value FROM readings r JOIN devices d ON d.id = r.device_id "
            "WHERE d.address = 'DESAT-1-OX' AND r.metric = %s ORDER BY r.measured_at",
            (CATALOGUE[Metric.SPO2].number,)).fetchall()
    assert len(rows) >= 100  # 20 simulated minutes every 10 s
    start = rows[0][0]
    before = sorted(v for t, v in rows if (t - start).total_seconds() < 300)
    during = sorted(v for t, v in rows if 480 <= (t - start).total_seconds() < 840)
    # The scenario's event, not noise: the median falls by most of the way to the nadir.
    assert before[len(before) // 2] - during[len(during) // 2] >= 5


def test_broker_restart_mid_run_still_loses_nothing(stack: Stack) -> None:
    config = FleetConfig(mqtt_url=stack.mqtt_url, gateways=5, devices_per_gateway=2, speed=5,
                         duration_s=8, prefix="restart", database_url=stack.database_url,
                         ack_timeout_s=3, drain_s=60, alert_settle_s=0)
    run = FleetRun(config)
    enrol_fleet(stack.database_url, run.roster)
    result: dict[str, FleetReport] = {}
    worker = threading.Thread(target=lambda: result.update(report=run.run()))
    worker.start()
    deadline = time.monotonic() + 30
    while run.tally.acked < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.tally.acked >= 50, "the fleet never got going"
    # A crash: whatever the broker held in memory (no persistence here) is gone.
    stack.broker.kill()
    time.sleep(1.5)
    stack.broker.start()
    worker.join(120)
    assert not worker.is_alive()
    report = result["report"]
    assert report.reconnects >= 1
    assert report.readings_lost == 0 and report.readings_acked == report.readings_generated
    assert_database_agrees(run, report, stack.database_url)


def test_per_gateway_credentials_are_enforced_by_the_broker(
    fresh_db_url: str, tmp_path: Path
) -> None:
    broker = quick_broker(tmp_path / "mosquitto", users={"svc": "svc-secret"},
                          service_users=("svc",))
    ingest = Ingest(fresh_db_url, f"mqtt://svc:svc-secret@127.0.0.1:{broker.port}",
                    tmp_path / "ingest.log")
    try:
        config = FleetConfig(
            mqtt_url=broker.url, gateways=3, devices_per_gateway=1, speed=10, duration_s=3,
            prefix="acl", connection_mode=ConnectionMode.PER_GATEWAY,
            credentials_file=tmp_path / "fleet.credentials", database_url=fresh_db_url,
            alert_settle_s=0)
        roster, _, config = plan_fleet(config)
        passwords = provision_credentials(
            [g.id for g in roster.gateways], credentials_file=config.credentials_file,
            password_file=broker.workdir / "passwd", acl_file=broker.workdir / "acl",
            service_accounts={"svc": "svc-secret"})
        assert broker.process is not None
        os.kill(broker.process.pid, signal.SIGHUP)  # Mosquitto rereads passwd and ACL
        time.sleep(0.5)
        ingest.start()
        enrol_fleet(fresh_db_url, roster)

        report = run_fleet(config)  # passwords come from the credentials file
        assert report.connections == 3 and report.publishes_denied == 0
        assert report.readings_lost == 0 and report.readings_generated > 0
        assert report.database is not None and report.database.missing == 0

        # Gateway 1, authenticated as itself, cannot publish under gateway 2's topic.
        first, second = (g.id for g in roster.gateways[:2])
        notes: queue.SimpleQueue[Note] = queue.SimpleQueue()
        link = Link(0, endpoint=Endpoint("127.0.0.1", broker.port),
                    client_id=f"vigil-edge-{first}", username=first,
                    password=passwords[first], ack_filters=[], notes=notes, keepalive_s=30)
        network = Network([link])
        link.start()
        try:
            assert next_note(network, notes).kind == "connected"
            link.connected = True
            assert link.publish(topic(second, Channel.READINGS), b'{"kind":"readings"}')
            assert next_note(network, notes).kind == "denied"
        finally:
            network.close()

        # A wrong password is refused outright, and the fleet says so.
        with pytest.raises(FleetError, match="refused"):
            run_fleet(config.model_copy(update={"duration_s": 1.0}),
                      passwords={g.id: "wrong" for g in roster.gateways})
    finally:
        ingest.stop()
        stop_quietly(broker)


OUTAGE = """
name = "outage"
duration = "30m"

[[patients]]
id = "out-1"
seed = 77
gateway = "gw-out-1"

[[patients.devices]]
id = "out-1-ox"
kind = "pulse_oximeter"
interval = "20s"

[[patients.devices]]
id = "out-1-cuff"
kind = "blood_pressure"
interval = "2m"

[[gateway_outages]]
gateway = "gw-out-1"
start = "10m"
duration = "12m"
cause = "network"

[[device_faults]]
kind = "corrupt_packets"
device = "out-1-ox"
start = "0s"
probability = 0.3

[[device_faults]]
kind = "low_battery"
device = "out-1-cuff"
start = "1m"
level_percent = 7

[[device_faults]]
kind = "connection_drop"
device = "out-1-cuff"
start = "3m"
duration = "4m"

[fleet]
gateways = 2
devices_per_gateway = 1
mix = "caseload"
duration = "5s"
"""


def test_outages_and_device_faults_on_per_gateway_connections(
    stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "outage.toml"
    path.write_text(OUTAGE)
    statuses: list[dict[str, object]] = []
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-watcher")
    watcher.on_message = lambda c, u, m: statuses.append(json.loads(m.payload))
    watcher.connect("127.0.0.1", stack.broker.port)
    watcher.subscribe(topic("gw-out-1", Channel.STATUS), qos=1)
    watcher.loop_start()
    try:
        config = FleetConfig(mqtt_url=stack.mqtt_url, scenario=path, prefix="out",
                             connection_mode=ConnectionMode.PER_GATEWAY,
                             database_url=stack.database_url, alert_settle_s=0)
        run = FleetRun(config)
        enrol_fleet(stack.database_url, run.roster)
        report = run.run()
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert report.readings_lost == 0 and report.connections == 2
    assert_database_agrees(run, report, stack.database_url)
    # The outage dropped the gateway's own connection: the broker published its last will.
    story = [(s["state"], s.get("reason")) for s in statuses]
    assert ("offline", "connection lost") in story
    assert story.index(("offline", "connection lost")) < len(story) - 1 - story[::-1].index(
        ("online", None))
    assert story[-1] == ("offline", "shutdown")
    with psycopg.connect(stack.database_url) as conn:
        origins: dict[str, int] = dict(conn.execute(
            "SELECT r.origin, count(*) FROM readings r JOIN devices d ON d.id = r.device_id "
            "WHERE d.address LIKE 'OUT-1-%' GROUP BY 1").fetchall())
        events = conn.execute(
            "SELECT event, battery_level FROM device_events WHERE gateway_id = 'gw-out-1'"
        ).fetchall()
    # Queued through a 12-minute outage: what waited over 10 minutes went out as late backfill;
    # the cuff's records from its lost link came from its memory.
    assert origins.get("late", 0) > 0 and origins.get("stored", 0) > 0 and origins["live"] > 0
    kinds = [e for e, _ in events]
    assert "malformed_packet" in kinds
    assert ("battery", 7) in events
    assert {"disconnected", "connected"} <= set(kinds)
