"""Device faults, deterministic by seed.

A `FaultProfile` says what goes wrong with one device and how often; a `Faults` object makes the
random choices from a generator seeded by (seed, device address), so the same seed gives the same
drops, corrupted bytes and refused connections on every run, whatever other devices do.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultProfile:
    # Per measurement packet sent: the device drops the link right after sending it.
    drop_rate: float = 0.0
    # Per measurement packet: one byte flipped (the packet may still parse, to a wrong value).
    corrupt_rate: float = 0.0
    # Per measurement packet: cut short (a decoder must reject it as malformed).
    truncate_rate: float = 0.0
    # Per connection attempt: refused like a radio abort (BlueZ le-connection-abort-by-local).
    connect_failure_rate: float = 0.0
    # The device clock: set wrong by this much at start, and running fast (+) or slow (-).
    clock_offset_s: float = 0.0
    clock_drift_ppm: float = 0.0
    # Battery: level at start (percent) and drain per simulated day.
    battery_start: float = 100.0
    battery_drain_per_day: float = 2.0
    # After this many simulated seconds the device goes silent for good: no advertising,
    # no packets (dead battery, patient put it in a drawer). None: never.
    silent_after_s: float | None = None
    # Windows (start, end) in simulated seconds since the device started when it is out of
    # radio range: invisible, unconnectable, and a live link drops.
    out_of_range: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("drop_rate", "corrupt_rate", "truncate_rate", "connect_failure_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {rate}")
        for start, end in self.out_of_range:
            if end <= start:
                raise ValueError(f"out-of-range window ({start}, {end}) is empty")

    def out_of_range_at(self, elapsed_s: float) -> bool:
        return any(start <= elapsed_s < end for start, end in self.out_of_range)


NO_FAULTS = FaultProfile()


def seeded_rng(seed: int, address: str) -> random.Random:
    """A generator private to one device: stable across runs and independent of the others."""
    digest = hashlib.sha256(f"{seed}:{address.upper()}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Faults:
    def __init__(self, profile: FaultProfile, seed: int, address: str) -> None:
        self.profile = profile
        self._rng = seeded_rng(seed, address)

    def _roll(self, rate: float) -> bool:
        # Always draw, so one fault's rate does not shift the sequence of another's.
        return self._rng.random() < rate

    def mangle(self, packet: bytes) -> bytes:
        """The packet as it leaves the device: maybe corrupted, maybe truncated."""
        corrupt = self._roll(self.profile.corrupt_rate)
        truncate = self._roll(self.profile.truncate_rate)
        position = self._rng.randrange(max(1, len(packet)))
        flip = 1 << self._rng.randrange(8)
        out = bytearray(packet)
        if corrupt and out:
            out[position] ^= flip
        if truncate and len(out) > 1:
            # Keep at least the flags byte so the decoder gets far enough to notice.
            del out[max(1, position) :]
        return bytes(out)

    def should_drop(self) -> bool:
        return self._roll(self.profile.drop_rate)

    def should_refuse_connection(self) -> bool:
        return self._roll(self.profile.connect_failure_rate)
