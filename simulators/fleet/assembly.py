"""Putting a fleet together: the roster a configuration and scenario describe, then the
patients, gateways and MQTT links that will act it out."""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge.config import parse_mqtt_url
from simulators.fleet.config import ConnectionMode, FleetConfig, FleetError
from simulators.fleet.devices import DeviceState
from simulators.fleet.gateway import GatewayRuntime
from simulators.fleet.outbox import GatewayOutbox
from simulators.fleet.roster import Roster, build_roster
from simulators.fleet.scenario import FleetScenario, load_fleet_scenario
from simulators.fleet.transport import Endpoint, Link, Note, Will, ack_filter
from simulators.fleet.values import ValueModel, sampler
from simulators.physiology.noise import uniform
from simulators.physiology.patient import Patient
from vigil.messages import GatewayState, GatewayStatus, encode
from vigil.topics import BUCKETS, PREFIX, Channel, bucket_of


def plan_fleet(config: FleetConfig) -> tuple[Roster, FleetScenario, FleetConfig]:
    """The roster a config describes, with the scenario file's `[fleet]` values filling in
    whatever the config did not set explicitly."""
    scenario = load_fleet_scenario(config.scenario) if config.scenario else FleetScenario()
    section = scenario.fleet
    fill: dict[str, object] = {}
    for name, value in (
        ("gateways", section.gateways), ("devices_per_gateway", section.devices_per_gateway),
        ("mix", section.mix), ("rate", section.rate), ("speed", section.speed),
        ("seed", section.seed),
        ("duration_s", None if section.duration is None else section.duration.total_seconds()),
    ):
        if value is not None and name not in config.model_fields_set:
            fill[name] = value
    if fill:
        config = FleetConfig.model_validate({**config.model_dump(exclude_unset=True), **fill})
    roster = build_roster(
        gateways=config.gateways, devices_per_gateway=config.devices_per_gateway,
        mix=config.mix, seed=config.seed, prefix=config.prefix,
        scenario=scenario.scenario, conditions=section.conditions,
    )
    return roster, scenario, config


def endpoint_of(config: FleetConfig) -> tuple[Endpoint, str | None, str | None]:
    """Where the broker is, and the service account (flags beat the URL's user:password)."""
    try:
        parsed = parse_mqtt_url(config.mqtt_url)
    except ValueError as exc:
        raise FleetError(f"MQTT URL: {exc}") from None
    user = config.service_username or parsed.username
    secret = config.service_password
    password = secret.get_secret_value() if secret is not None else parsed.password
    return Endpoint(parsed.host, parsed.port, parsed.tls), user, password


@dataclass
class Assembly:
    patients: dict[str, Patient]
    links: list[Link]
    gateways: list[GatewayRuntime]


def assemble(
    config: FleetConfig,
    roster: Roster,
    fleet_scenario: FleetScenario,
    origin: datetime,
    passwords: Mapping[str, str],
    notes: queue.SimpleQueue[Note],
    rng: random.Random,
) -> Assembly:
    endpoint, user, password = endpoint_of(config)
    scenario_ids = set() if fleet_scenario.scenario is None else {
        p.id for p in fleet_scenario.scenario.patients
    }
    patients = {pid: spec.build(origin) for pid, spec in roster.patients.items()}
    per_gateway = config.connection_mode is ConnectionMode.PER_GATEWAY
    shared = min(config.connections, len(roster.gateways), BUCKETS)
    links: list[Link] = []
    if not per_gateway:
        # Each shared connection owns whole buckets, so it subscribes to a few wildcards
        # (vigil/v1/gw/<bucket>/+/ack) instead of one filter per gateway.
        for k in range(shared):
            links.append(Link(
                k, endpoint=endpoint, client_id=f"vigil-sim-{config.prefix}-{k}",
                username=user, password=password, notes=notes, keepalive_s=config.keepalive_s,
                ack_filters=[f"{PREFIX}/{b:02d}/+/ack" for b in range(BUCKETS) if b % shared == k],
            ))
    now = time.monotonic()
    if per_gateway:
        ensure_descriptors(len(roster.gateways))
    gateways: list[GatewayRuntime] = []
    for index, entry in enumerate(roster.gateways):
        devices = []
        for device in entry.devices:
            patient = patients[device.patient_id]
            model = ValueModel.PHYSIOLOGY if device.patient_id in scenario_ids else config.values
            devices.append(DeviceState(
                entry=device, sample=sampler(patient, model),
                utc_offset=timedelta(minutes=patient.utc_offset_minutes),
                battery=80 + int(uniform(device.stream, -1) * 21),
            ))
        stream = entry.devices[0].stream if entry.devices else 0
        runtime = GatewayRuntime(
            entry=entry, index=index, link=index if per_gateway else bucket_of(entry.id) % shared,
            outbox=GatewayOutbox(config.ack_timeout_s, config.resend_max_s, rng),
            devices=devices, heartbeat_s=config.heartbeat_s,
            # Spread heartbeats over the interval: a fleet does not beat in step.
            next_heartbeat=now + config.heartbeat_s * uniform(stream, -2),
        )
        gateways.append(runtime)
        if per_gateway:
            links.append(_own_link(config, runtime, endpoint, user, passwords, notes))
    return Assembly(patients, links, gateways)


# Besides one socket per connection: the interpreter, the selector, log files, PostgreSQL.
SPARE_DESCRIPTORS = 64


def ensure_descriptors(connections: int) -> None:
    """Per-gateway connections cost a file descriptor each: raise the soft limit to what is
    needed (up to the hard limit), or say plainly what to change."""
    import resource

    needed = connections + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard == resource.RLIM_INFINITY or hard >= needed:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        else:
            raise FleetError(f"{connections} per-gateway connections need {needed} open files, "
                             f"the limit is {hard}: raise it (ulimit -n) or use shared "
                             "connections (--connections K)")


def _own_link(config: FleetConfig, gateway: GatewayRuntime, endpoint: Endpoint,
              service_user: str | None, passwords: Mapping[str, str],
              notes: queue.SimpleQueue[Note]) -> Link:
    """A gateway's own connection, as the edge uplink makes it: its id as username, its own
    password, a persistent session and a retained "offline" last will."""
    if gateway.id in passwords:
        password: str | None = passwords[gateway.id]
    elif service_user is None:
        password = None  # an anonymous broker (development only)
    else:
        raise FleetError(f"no MQTT password for gateway {gateway.id}: provision the fleet or "
                         "give --credentials")
    will = encode(GatewayStatus(gateway_id=gateway.id, state=GatewayState.OFFLINE,
                                at=datetime.now(UTC), reason="connection lost"))
    return Link(
        gateway.index, endpoint=endpoint, client_id=f"vigil-edge-{gateway.id}",
        username=gateway.id, password=password, ack_filters=[ack_filter(gateway.id)],
        notes=notes, keepalive_s=config.keepalive_s,
        will=Will(gateway.topics[Channel.STATUS], will), persistent=True,
    )
