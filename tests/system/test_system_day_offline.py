"""A gateway offline for a simulated 24 hours (its own MQTT connection dropped: the broker
publishes its last will), queueing everything, then reconnecting with a full outbox. Time
compression: 30 simulated hours pass in a few real seconds.

Oracle: ids generated == ids stored, each once; what waited longer than the late threshold went
out marked late; alerts raised from that backfill are recorded but never paged."""

from __future__ import annotations

from pathlib import Path

import psycopg
from system_stack import FleetThread, assert_fleet_oracle
from vigil_stack import Stack

from simulators.fleet.config import ConnectionMode, FleetConfig

SCENARIO = """
name = "day-offline"
duration = "30h"

[[patients]]
id = "day-1"
seed = 4242
gateway = "gw-day-1"

[[patients.devices]]
id = "day-1-ox"
kind = "pulse_oximeter"
interval = "5m"

[[patients.devices]]
id = "day-1-cuff"
kind = "blood_pressure"
interval = "1h"

[[gateway_outages]]
gateway = "gw-day-1"
start = "3h"
duration = "24h"
cause = "network"

[fleet]
gateways = 2
devices_per_gateway = 1
mix = "caseload"
duration = "6s"
"""


def test_gateway_offline_for_a_day_reconnects_with_its_backlog(system: Stack,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "day.toml"
    path.write_text(SCENARIO)
    config = FleetConfig(mqtt_url=system.mqtt_url, scenario=path, prefix="day",
                         connection_mode=ConnectionMode.PER_GATEWAY,
                         database_url=system.database_url, alert_settle_s=0, drain_s=90)
    fleet = FleetThread(config, system.database_url).start()
    report = fleet.report()
    assert report.simulated_s >= 29 * 3600
    assert_fleet_oracle(fleet, report, system.database_url)
    with psycopg.connect(system.database_url) as conn:
        origins: dict[str, int] = dict(conn.execute(
            "SELECT r.origin, count(*) FROM readings r JOIN devices d ON d.id = r.device_id "
            "WHERE d.address LIKE 'DAY-1-%' GROUP BY 1").fetchall())
        # Alerts known only from backfill: recorded, and not one of them paged anybody.
        paged_late = conn.execute(
            "SELECT count(*) FROM alerts WHERE late AND paged_at IS NOT NULL").fetchone()
    # A day of 5-minute oximetry and hourly cuffs queued: hundreds of late readings.
    assert origins.get("late", 0) >= 200, origins
    assert origins.get("live", 0) > 0
    assert paged_late == (0,)
