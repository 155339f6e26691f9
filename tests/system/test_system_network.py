"""A bad network between the gateways and the broker (devstack NetProxy on loopback): added
latency, a cut that refuses reconnection for a while, and connection resets (RST) mid-stream.

Oracle: the fleet's ids generated == ids stored, each exactly once, every one acknowledged in
the end; the gateways noticed (reconnects) and resent what was in flight."""

from __future__ import annotations

import time

from system_stack import FleetThread, assert_fleet_oracle
from vigil_stack import Stack

from devstack.netproxy import NetProxy
from simulators.fleet.config import FleetConfig


def test_cuts_resets_and_latency_between_gateways_and_broker(system: Stack) -> None:
    proxy = NetProxy(upstream_port=system.broker.port)
    proxy.start()
    try:
        config = FleetConfig(mqtt_url=f"mqtt://127.0.0.1:{proxy.port}", gateways=5,
                             devices_per_gateway=1, rate=100, duration_s=14, prefix="net",
                             values="flat", ack_timeout_s=3, resend_max_s=4, keepalive_s=5,
                             # Publish every 50 ms (not the agent's 2 s linger), so a message is
                             # always in flight when the network breaks.
                             flush_interval_s=0.05,
                             database_url=system.database_url, alert_settle_s=0, drain_s=90)
        fleet = FleetThread(config, system.database_url).start()
        fleet.wait_acked(100)
        # A slow uplink: everything still arrives, late. It stays slow through the breaks
        # below, so each one catches published-but-unacknowledged messages (~0.4 s of them)
        # and the oracle's "resent" is certain rather than a race with a fast ingest.
        proxy.delay_s = 0.2
        time.sleep(2)
        proxy.cut()  # Wi-Fi gone: connections dropped, reconnects refused
        time.sleep(3)
        proxy.restore()
        time.sleep(2)
        for _ in range(2):  # a flaky router resetting connections
            proxy.reset()
            time.sleep(1.5)
        proxy.delay_s = 0.0
        report = fleet.report()
    finally:
        proxy.stop()
    assert report.reconnects >= 3
    assert report.resent_readings > 0
    assert_fleet_oracle(fleet, report, system.database_url)
