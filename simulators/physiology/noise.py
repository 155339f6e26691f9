"""Counter-based deterministic randomness: every draw is a pure function of its key.

A shared mutable RNG would make a value depend on how many values were drawn before it, so a
device emulator asking for SpO2 at 10:00 and a fleet simulator asking in another order would
disagree. Here each draw hashes (seed, stream, index): the same key gives the same number in any
order, in any process, on any machine (blake2b and splitmix64 are fixed algorithms; Python's
``hash()`` is salted per process and is never used).
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

_MASK = (1 << 64) - 1
_TWO_64 = float(1 << 64)
_GOLDEN = 0x9E3779B97F4A7C15
# Irwin-Hall(3) has variance 3/12; dividing by its SD makes a unit-variance draw bounded by ±3.
_IRWIN_HALL_3_SD = 0.5


@lru_cache(maxsize=65536)
def stream_id(seed: int, stream: str) -> int:
    """A 64-bit identity for one named stream of one seed."""
    digest = hashlib.blake2b(f"{seed}\x1f{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(z: int) -> int:
    # splitmix64 finaliser: full avalanche, so neighbouring indices give unrelated outputs.
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
    return z ^ (z >> 31)


def hash64(stream: int, index: int) -> int:
    return _mix((stream + (index & _MASK) * _GOLDEN) & _MASK)


def uniform(stream: int, index: int) -> float:
    """A draw in [0, 1)."""
    return hash64(stream, index) / _TWO_64


def bounded_normal(stream: int, index: int) -> float:
    """Zero mean, unit variance, never beyond ±3: physiology has no infinite tails."""
    h = hash64(stream, index)
    total = (h & 0x1FFFFF) + ((h >> 21) & 0x1FFFFF) + ((h >> 42) & 0x1FFFFF)
    return (total / float(0x200000) - 1.5) / _IRWIN_HALL_3_SD


def smootherstep(x: float) -> float:
    """0 at x<=0, 1 at x>=1, zero first and second derivative at both ends."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x * x * (x * (x * 6.0 - 15.0) + 10.0)


def smooth_noise(stream: int, seconds: float, period: float) -> float:
    """Value noise: bounded-normal knots every ``period`` seconds, eased in between.

    The interpolation is a convex combination of two knots, so the result never leaves ±3 and
    changes by at most a fraction of a knot step per second when the period is long: SpO2 and
    pulse drift rather than jump.
    """
    position = seconds / period
    index = math.floor(position)
    weight = smootherstep(position - index)
    left = bounded_normal(stream, index)
    right = bounded_normal(stream, index + 1)
    return left + (right - left) * weight


def episode_active(
    stream: int, seconds: float, bucket: float, probability: float, min_len: float, max_len: float
) -> bool:
    """Whether a sporadic episode covers this instant.

    Time is cut into buckets; each bucket holds at most one episode (with the given
    probability) at a hashed start and length. An episode may run into the next bucket, so the
    previous bucket is checked too; lengths are capped at one bucket.
    """
    if probability <= 0.0:
        return False
    length_cap = min(max_len, bucket)
    index = math.floor(seconds / bucket)
    for b in (index, index - 1):
        if uniform(stream, 3 * b) >= probability:
            continue
        start = b * bucket + uniform(stream, 3 * b + 1) * bucket
        length = min_len + uniform(stream, 3 * b + 2) * max(0.0, length_cap - min_len)
        if start <= seconds < start + length:
            return True
    return False
