"""Simulated time against real time: how fast the fleet's clock runs and where it starts.

A fleet that runs faster than real time (a caseload compressed to a day a minute, or a load
test at a target rate) replays the recent past so that it *ends* at the present: every
measurement time stays at or before the wall clock, as ingest requires of real readings
(it dead-letters far-future timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from simulators.fleet.cadence import DEFAULT_SPEED
from simulators.fleet.config import Mix

DEFAULT_DURATION_S = 10.0


class PacingError(ValueError):
    """The requested pace cannot be met by this fleet."""


@dataclass(frozen=True, slots=True)
class Pacing:
    speed: float  # simulated seconds per real second
    duration_s: float  # real seconds spent generating

    @property
    def simulated_s(self) -> float:
        return self.speed * self.duration_s


def resolve_pacing(
    *,
    mix: Mix,
    natural_rate: float,
    rate: float | None,
    speed: float | None,
    duration_s: float | None,
    scenario_duration_s: float | None,
) -> Pacing:
    """`natural_rate` is readings per simulated second for the whole fleet.

    Precedence: a target rate sets the speed; else an explicit speed; else a scenario squeezed
    into the requested duration; else the mix's default (real time for a virtual ward).
    """
    if rate is not None:
        if natural_rate <= 0:
            raise PacingError("this fleet produces no readings, so no rate can be reached")
        chosen = rate / natural_rate
    elif speed is not None:
        chosen = speed
    elif scenario_duration_s is not None and duration_s is not None:
        chosen = scenario_duration_s / duration_s
    else:
        chosen = DEFAULT_SPEED[mix]
    if duration_s is None:
        duration_s = (
            scenario_duration_s / chosen if scenario_duration_s is not None else DEFAULT_DURATION_S
        )
    return Pacing(speed=chosen, duration_s=duration_s)


@dataclass(frozen=True, slots=True)
class SimClock:
    origin: datetime  # simulated time when the run starts
    real_start: float  # time.monotonic() when the run starts
    speed: float

    def offset_at(self, monotonic: float) -> float:
        """Simulated seconds since the origin at this real instant."""
        return (monotonic - self.real_start) * self.speed

    def at(self, offset_s: float) -> datetime:
        return self.origin + timedelta(seconds=offset_s)


def sim_origin(wall_now: datetime, pacing: Pacing, fixed: datetime | None) -> datetime:
    """Where simulated time starts: a scenario's fixed start, or so that the run ends now."""
    if fixed is not None:
        return fixed
    ahead = max(0.0, pacing.simulated_s - pacing.duration_s)
    # Whole milliseconds: devices and gateways stamp no finer, and ids stay readable.
    origin = wall_now - timedelta(seconds=ahead)
    return origin.replace(microsecond=origin.microsecond // 1000 * 1000)
