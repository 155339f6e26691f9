"""`vigil sim fleet`: many simulated gateways over MQTT, a progress line, and a report.

    vigil sim fleet --mqtt-url mqtt://svc:pw@127.0.0.1:1883 --gateways 200 --duration 60s
    vigil sim fleet --scenario scenarios/ward-outages.toml --database-url postgresql://...
    vigil sim fleet --gateways 50 --provision --enrol postgresql://... \\
        --passwd-file /etc/mosquitto/passwd --acl-file /etc/mosquitto/acl \\
        --credentials fleet.credentials --service-account ingest:secret --no-run
    vigil sim fleet --per-gateway-connections --credentials fleet.credentials ...

Exit status: 0 when nothing was lost, the database agrees and the expected alerts fired; 1
when the report says otherwise; 2 for unusable arguments, files or servers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulators.fleet.config import ConnectionMode, FleetConfig, Mix
from simulators.fleet.credentials import CredentialsError, load_credentials
from simulators.fleet.values import ValueModel
from simulators.physiology.durations import parse_duration
from simulators.physiology.loader import ScenarioError


def _seconds(text: str) -> float:
    """Seconds as a plain number, or a duration as scenario files write them (90s, 5m)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, timedelta):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    return value.total_seconds()


def _account(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vigil sim fleet",
        description="Drive simulated gateways over MQTT with the real wire contract, wait for "
        "ingest's end-to-end acks, and report what was sent, acknowledged, lost and stored.")
    p.add_argument("--mqtt-url", default=os.environ.get("VIGIL_MQTT_URL"),
                   help="mqtt[s]://user:pass@host:port; the user is the service account for "
                   "shared connections (VIGIL_MQTT_URL)")
    p.add_argument("--gateways", type=int, help="gateways in the fleet (default 5)")
    p.add_argument("--devices-per-gateway", type=int, help="devices per generated gateway (3)")
    p.add_argument("--mix", choices=[m.value for m in Mix],
                   help="virtual-ward: 1 Hz SpO2+pulse per patient; caseload: a few spot "
                   "readings a day, a day per minute by default")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="target readings/s for the whole fleet")
    pace.add_argument("--speed", type=float, help="simulated seconds per real second")
    p.add_argument("--duration", type=_seconds, help="generate for this long (60, 90s, 5m)")
    p.add_argument("--max-readings", type=int, help="stop generating after this many")
    p.add_argument("--drain", type=_seconds, help="then wait at most this long for acks (30s)")
    p.add_argument("--seed", type=int, help="reproducible fleet, values and faults (0)")
    p.add_argument("--prefix", help="gateway/patient/device id prefix (sim)")
    p.add_argument("--scenario", type=Path, help="scenario file, TOML or YAML (see scenarios/)")
    p.add_argument("--values", choices=[v.value for v in ValueModel],
                   help="generated patients' values: physiology (default) or flat (cheap load)")
    conn = p.add_mutually_exclusive_group()
    conn.add_argument("--connections", type=int,
                      help="K shared service-account connections, each publishing for many "
                      "gateways (default 4, at most 64)")
    conn.add_argument("--per-gateway-connections", action="store_true",
                      help="one connection per gateway with its own id and password (ACL "
                      "enforced); needs --credentials unless the broker is anonymous")
    p.add_argument("--credentials", type=Path,
                   help="gateway_id:password file (read; written by --provision)")
    p.add_argument("--batch-size", type=int, help="readings per message at most (50)")
    p.add_argument("--flush-interval", type=_seconds,
                   help="send buffered readings after (2s, the edge agent's linger)")
    p.add_argument("--heartbeat", type=_seconds, help="status heartbeat interval (60s)")
    p.add_argument("--ack-timeout", type=_seconds,
                   help="resend when unacked after half to all of this, jittered, doubling (10s)")
    p.add_argument("--resend-max", type=_seconds,
                   help="longest resend backoff (600s, as the edge agent)")
    p.add_argument("--connect-timeout", type=_seconds,
                   help="fail when the broker connections are not up by then (30s)")
    p.add_argument("--database-url", default=os.environ.get("VIGIL_DATABASE_URL"),
                   help="check stored rows and raised alerts afterwards (VIGIL_DATABASE_URL)")
    p.add_argument("--alert-settle", type=_seconds,
                   help="wait up to this long for expected alerts (5s)")
    p.add_argument("--enrol", metavar="DATABASE_URL",
                   help="first seed organisation, team, patients, gateways, devices and "
                   "enrolments there (through ingest.registry; idempotent)")
    p.add_argument("--provision", action="store_true",
                   help="generate gateway passwords and write --credentials, --passwd-file "
                   "and --acl-file (reload the broker afterwards); enrols too when a database "
                   "URL is given")
    p.add_argument("--passwd-file", type=Path, help="Mosquitto password file to update")
    p.add_argument("--acl-file", type=Path, help="Mosquitto ACL file to update")
    p.add_argument("--service-account", type=_account, action="append", default=[],
                   metavar="NAME:PASSWORD",
                   help="a full-access account to add with --provision (ingest, the fleet)")
    p.add_argument("--no-run", action="store_true", help="only enrol and/or provision")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> FleetConfig:
    fields: dict[str, Any] = {
        "mqtt_url": args.mqtt_url, "gateways": args.gateways,
        "devices_per_gateway": args.devices_per_gateway, "mix": args.mix, "rate": args.rate,
        "speed": args.speed, "duration_s": args.duration, "max_readings": args.max_readings,
        "drain_s": args.drain, "seed": args.seed, "prefix": args.prefix,
        "scenario": args.scenario, "values": args.values, "connections": args.connections,
        "credentials_file": args.credentials, "batch_size": args.batch_size,
        "flush_interval_s": args.flush_interval, "heartbeat_s": args.heartbeat,
        "ack_timeout_s": args.ack_timeout, "resend_max_s": args.resend_max,
        "database_url": args.database_url or args.enrol,
        "alert_settle_s": args.alert_settle, "connect_timeout_s": args.connect_timeout,
    }
    if args.per_gateway_connections:
        fields["connection_mode"] = ConnectionMode.PER_GATEWAY
    fields["progress"] = not args.quiet
    # Only what was given: the scenario file fills what the command line leaves unset.
    return FleetConfig.model_validate({k: v for k, v in fields.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from simulators.fleet.engine import FleetError, FleetRun, plan_fleet

    try:
        config = config_from_args(args)
        roster, fleet_scenario, config = plan_fleet(config)
    except (ValidationError, ScenarioError, ValueError) as exc:
        print(f"vigil sim fleet: {exc}", file=sys.stderr)
        return 2
    passwords: dict[str, str] | None = None
    try:
        if args.provision:
            from simulators.fleet.credentials import provision_credentials

            if not (args.passwd_file or args.acl_file or args.credentials):
                print("vigil sim fleet: --provision needs --passwd-file, --acl-file and/or "
                      "--credentials", file=sys.stderr)
                return 2
            passwords = provision_credentials(
                [g.id for g in roster.gateways], credentials_file=args.credentials,
                password_file=args.passwd_file, acl_file=args.acl_file,
                service_accounts=dict(args.service_account))
            print(f"provisioned {len(roster.gateways)} gateway credentials", file=sys.stderr)
        elif args.credentials is not None and args.credentials.exists():
            passwords = load_credentials(args.credentials)
        enrol_url = args.enrol or (args.database_url if args.provision else None)
        if enrol_url:
            if importlib.util.find_spec("psycopg") is None:
                print("vigil sim fleet: enrolling needs ingest's dependencies: "
                      "pip install 'vigil[cloud]'", file=sys.stderr)
                return 2
            from simulators.fleet.enrol import DEFAULT_LOOKBACK, enrol_fleet

            since = datetime.now(UTC) - DEFAULT_LOOKBACK
            start = fleet_scenario.scenario.start if fleet_scenario.scenario else None
            if start is not None:
                since = min(since, start - timedelta(days=1))
            print(enrol_fleet(enrol_url, roster, since).line(), file=sys.stderr)
    except (CredentialsError, OSError) as exc:
        print(f"vigil sim fleet: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # psycopg errors and enrolment conflicts, without importing them
        if type(exc).__module__.startswith(("psycopg", "simulators.fleet.enrol")):
            print(f"vigil sim fleet: database: {exc}", file=sys.stderr)
            return 2
        raise
    if args.no_run:
        return 0
    if config.database_url is not None and importlib.util.find_spec("psycopg") is None:
        print("vigil sim fleet: checking the database needs psycopg: "
              "pip install 'vigil[cloud]'", file=sys.stderr)
        return 2
    try:
        run = FleetRun(config, passwords=passwords, plan=(roster, fleet_scenario))
    except FleetError as exc:
        print(f"vigil sim fleet: {exc}", file=sys.stderr)
        return 2
    # SIGTERM/SIGINT: stop generating and drain what is in flight; a second one stops that too.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: run.request_stop())
                    for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = run.run()
    except FleetError as exc:
        print(f"vigil sim fleet: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(report.table())
    return 0 if report.ok else 1
