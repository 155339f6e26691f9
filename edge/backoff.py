"""Exponential backoff with jitter, shared by the outbox resend schedule and device reconnects.

Jitter is "equal jitter" (half fixed, half random): every delay is at least half the nominal
one, so a fleet of gateways that lost the broker together does not come back in lock-step,
yet no gateway retries sooner than half the schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def nominal_delay(attempt: int, initial: float, maximum: float) -> float:
    """The un-jittered delay before retry number `attempt` (1 = the first retry)."""
    if attempt < 1:
        return 0.0
    # Cap the exponent: 2**64 seconds is already beyond any maximum.
    return min(maximum, initial * 2.0 ** min(attempt - 1, 64))


def jittered_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    nominal = nominal_delay(attempt, initial, maximum)
    return nominal / 2.0 + rng.uniform(0.0, nominal / 2.0)


@dataclass
class Backoff:
    """A retry counter for one kind of failure; `reset` after a success."""

    initial: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return jittered_delay(self.attempt, self.initial, self.maximum, self.rng)

    def reset(self) -> None:
        self.attempt = 0
