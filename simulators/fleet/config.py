"""What a fleet run is: how many gateways and devices, how fast, for how long, over which
connections, and what to check at the end. One frozen model, built by the CLI or a benchmark."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from simulators.fleet.values import ValueModel
from vigil.topics import BUCKETS

Seconds = Annotated[float, Field(gt=0)]


class Mix(StrEnum):
    # 1 Hz SpO2 + pulse rate per patient from a continuous pulse oximeter.
    VIRTUAL_WARD = "virtual-ward"
    # A few deliberate spot readings per patient per day (BP, temperature, weight, SpO2),
    # time-compressed so that a day passes in minutes.
    CASELOAD = "caseload"


class ConnectionMode(StrEnum):
    # K service-account clients, each publishing for many gateways: cheap, ACL not exercised.
    SHARED = "shared"
    # One client per gateway with its own id and password: what real gateways do.
    PER_GATEWAY = "per-gateway"


class FleetConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    gateways: Annotated[int, Field(ge=1, le=100_000)] = 5
    devices_per_gateway: Annotated[int, Field(ge=1, le=64)] = 3
    mix: Mix = Mix.VIRTUAL_WARD
    # Target readings/s for the whole fleet; None = the mix's natural rate at `speed`.
    rate: Annotated[float, Field(gt=0)] | None = None
    # Simulated seconds per real second when `rate` is not given.
    speed: Annotated[float, Field(gt=0)] | None = None
    # Real seconds of generation; None: the scenario's length at the chosen pace, else 10 s.
    duration_s: Seconds | None = None
    # Stop generating after this many readings (whichever of duration/limit comes first).
    max_readings: Annotated[int, Field(ge=1)] | None = None
    # After generation stops, keep resending and waiting for acks this long at most.
    drain_s: Annotated[float, Field(ge=0)] = 30.0
    seed: int = 0
    # Names are <prefix>-gw-00001 etc.; distinct prefixes keep concurrent fleets apart.
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,16}$")] = "sim"
    scenario: Path | None = None
    # Generated patients' values: the physiology model, or flat (cheaper, for pure load).
    values: ValueModel = ValueModel.PHYSIOLOGY

    connection_mode: ConnectionMode = ConnectionMode.SHARED
    connections: Annotated[int, Field(ge=1, le=BUCKETS)] = 4
    # The service account for shared connections (broad ACL); from VIGIL_MQTT_URL otherwise.
    service_username: str | None = None
    service_password: SecretStr | None = None
    # Per-gateway passwords: generated, or read from / written to this file (gateway:password).
    credentials_file: Path | None = None

    # Wire behaviour of each simulated gateway.
    batch_size: Annotated[int, Field(ge=1, le=2000)] = 50
    # Like the edge sender: gather what else arrives this long, then send (edge.sender
    # LINGER_S). With the agent's two seconds a 1 Hz oximeter's message carries two
    # measurements (four readings), as a real gateway's does; shorter lingers make more,
    # smaller messages.
    flush_interval_s: Seconds = 2.0
    heartbeat_s: Seconds = 60.0
    # The agent's resend schedule (edge.config OutboxConfig resend_initial_s / resend_max_s):
    # first resend after 5-10 s without an ack, doubling, jittered, at most 600 s.
    ack_timeout_s: Seconds = 10.0
    resend_max_s: Seconds = 600.0
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    # Give up when the connections are not all up by then (broker down, wrong address).
    connect_timeout_s: Seconds = 30.0

    # Checks against the database (read only): stored rows and raised alerts.
    database_url: SecretStr | None = None
    # How long to wait for the alert evaluation to catch up before counting alerts.
    alert_settle_s: Annotated[float, Field(ge=0)] = 5.0

    progress: bool = False

    @model_validator(mode="after")
    def _one_pace(self) -> FleetConfig:
        if self.rate is not None and self.speed is not None:
            raise ValueError("give either rate (readings/s) or speed (simulated s per s), not both")
        return self


class FleetError(RuntimeError):
    """The fleet could not run (broker unreachable, credentials refused, bad scenario)."""
