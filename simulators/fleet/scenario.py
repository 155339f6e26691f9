"""Fleet scenario files: a physiology scenario (simulators.physiology.scenario.Scenario, reused
unchanged) plus a `[fleet]` table for what only a fleet needs -- how many gateways, which
conditions the generated patients have, the load mix, pace, duration and seed, and faults
sprinkled at random over the generated gateways.

    name = "ward-with-outages"          # the physiology scenario, as in
    duration = "10m"                    # simulators/physiology/scenarios/*.toml
    [[patients]] ...                    # (optional: a fleet-only file may omit it)
    [[gateway_outages]] ...
    [fleet]
    gateways = 200
    mix = "virtual-ward"
    conditions = { general_adult = 3, copd = 1, heart_failure = 1 }
    [fleet.random_faults]
    gateway_outage_fraction = 0.05

Command-line flags override the `[fleet]` values.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulators.fleet.config import Mix
from simulators.physiology.baselines import Condition
from simulators.physiology.durations import Duration
from simulators.physiology.loader import ScenarioError, scenario_from_data
from simulators.physiology.scenario import Scenario

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
_PHYSIOLOGY_ONLY_KEYS = {"name", "description"}


class RandomFaults(BaseModel):
    """Faults dealt to generated gateways and devices, deterministically by seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateway_outage_fraction: Fraction = 0.0
    gateway_outage: Duration = timedelta(seconds=20)
    gateway_outage_cause: Literal["network", "power"] = "network"
    low_battery_fraction: Fraction = 0.0
    silent_device_fraction: Fraction = 0.0
    corrupt_packet_fraction: Fraction = 0.0
    corrupt_packet_probability: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    clock_drift_fraction: Fraction = 0.0
    clock_offset: Duration = timedelta(minutes=5)


class FleetSection(BaseModel):
    """The `[fleet]` table. Every field is optional; flags and defaults fill the rest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gateways: Annotated[int, Field(ge=1, le=100_000)] | None = None
    devices_per_gateway: Annotated[int, Field(ge=1, le=64)] | None = None
    mix: Mix | None = None
    rate: Annotated[float, Field(gt=0)] | None = None
    speed: Annotated[float, Field(gt=0)] | None = None
    # Real (wall-clock) time spent generating.
    duration: Duration | None = None
    seed: int | None = None
    # Relative weights of the generated patients' conditions.
    conditions: dict[Condition, Annotated[float, Field(ge=0)]] | None = None
    random_faults: RandomFaults = RandomFaults()


class FleetScenario(BaseModel):
    model_config = ConfigDict(frozen=True)

    fleet: FleetSection = FleetSection()
    scenario: Scenario | None = None


def fleet_scenario_from_data(data: object, source: str = "<data>") -> FleetScenario:
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ScenarioError(source, [f"top level must be a table/mapping, not {kind}"])
    rest = dict(data)
    raw_fleet = rest.pop("fleet", {})
    try:
        fleet = FleetSection.model_validate(raw_fleet)
    except ValidationError as error:
        problems = [
            f"fleet.{'.'.join(str(p) for p in e['loc'])}: "
            + ("unknown field (check its spelling)" if e["type"] == "extra_forbidden"
               else e["msg"].removeprefix("Value error, "))
            for e in error.errors(include_url=False)
        ]
        raise ScenarioError(source, problems) from None
    physiology = set(rest) - _PHYSIOLOGY_ONLY_KEYS
    scenario = scenario_from_data(rest, source) if physiology else None
    return FleetScenario(fleet=fleet, scenario=scenario)


def load_fleet_scenario(path: str | Path) -> FleetScenario:
    """A fleet scenario from .toml, .yaml or .yml; errors name the file and each place."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ScenarioError(str(path), ["file name must end in .toml, .yaml or .yml"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), [f"cannot read file: {error}"]) from None
    data: object
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ScenarioError(str(path), [f"not valid TOML: {error}"]) from None
    else:
        try:
            import yaml
        except ImportError:
            raise ScenarioError(
                str(path), ["YAML scenarios need PyYAML: pip install 'vigil[sim]'"]
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ScenarioError(str(path), [f"not valid YAML: {error}"]) from None
    return fleet_scenario_from_data(data, str(path))
