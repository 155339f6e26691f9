"""The fleet simulator: many simulated gateways over MQTT with the real wire contract.

    from simulators.fleet import FleetConfig, run_fleet
    report = run_fleet(FleetConfig(mqtt_url="mqtt://svc:pw@127.0.0.1:1883", gateways=500,
                                   rate=5000, duration_s=60, values="flat"))
    report.readings_lost, report.latency.p99_ms, report.generated_per_s

`vigil sim fleet` is the command (simulators.fleet.cli); `simulators.fleet.enrol` seeds the
database through ingest.registry and is the only module here that imports ingest.
"""

from simulators.fleet.config import ConnectionMode, FleetConfig, FleetError, Mix
from simulators.fleet.engine import FleetRun, plan_fleet, run_fleet
from simulators.fleet.report import FleetReport
from simulators.fleet.values import ValueModel

__all__ = [
    "ConnectionMode",
    "FleetConfig",
    "FleetError",
    "FleetReport",
    "FleetRun",
    "Mix",
    "ValueModel",
    "plan_fleet",
    "run_fleet",
]
