"""The outbox eviction policy, as pure functions (edge.outbox applies it).

When the outbox is over its bound (items or bytes of readings and events):
1. Victims are taken by class, then oldest first:
     continuous samples (PLX continuous, heart-rate stream)  -- first
     device events (connected, battery, malformed packet, ...)
     spot measurements (BP, temperature, weight, glucose, PLX spot check)  -- last
   so a spot measurement goes only when no continuous sample and no event is left. New items
   are inserted before the bound is enforced, so a new continuous sample never displaces a
   stored spot measurement: it is itself the first to go.
2. Each round frees 1% of the bound more than needed, so evictions come in rounds rather than
   on every insert -- but that headroom is taken only from the class already being evicted,
   never by reaching into the next class.
3. Every round is reported by EVICTED events: one per device whose readings went (count, and
   how many continuous and spot) and one gateway-level for events. Reports are not subject to
   the bound and are never evicted; instead a report not yet sent absorbs the next round's
   counts (one pending report per device), so there are never more than a handful.
4. Items older than max_age are dropped and reported the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ItemClass(IntEnum):
    """Eviction order: lower values go first. REPORT items are outside the bound."""

    CONTINUOUS = 0
    EVENT = 1
    SPOT = 2
    REPORT = 3


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    rank: ItemClass
    device_id: str | None
    size: int


@dataclass(frozen=True, slots=True)
class Tally:
    """What one EVICTED report counts."""

    continuous: int = 0
    spot: int = 0
    events: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.continuous + other.continuous, self.spot + other.spot,
                     self.events + other.events)

    @property
    def total(self) -> int:
        return self.continuous + self.spot + self.events


def choose_victims(
    candidates: Iterable[Candidate],
    over_items: int,
    over_bytes: int,
    spare_items: int,
    spare_bytes: int,
) -> list[Candidate]:
    """Victims from `candidates` (ordered by class, then age) to get `over_*` back under the
    bound, plus up to `spare_*` headroom from the last class needed."""
    victims: list[Candidate] = []
    freed = 0
    for candidate in candidates:
        enough = len(victims) >= over_items and freed >= over_bytes
        if enough:
            last = victims[-1].rank if victims else None
            spared = len(victims) >= over_items + spare_items and freed >= over_bytes + spare_bytes
            if candidate.rank != last or spared:
                break
        victims.append(candidate)
        freed += candidate.size
    return victims


def tally(victims: Iterable[Candidate]) -> dict[str | None, Tally]:
    """Counts per report: device id for readings, None (gateway-level) for events."""
    out: dict[str | None, Tally] = {}
    for victim in victims:
        if victim.rank is ItemClass.CONTINUOUS and victim.device_id is not None:
            key, add = victim.device_id, Tally(continuous=1)
        elif victim.rank is ItemClass.SPOT and victim.device_id is not None:
            key, add = victim.device_id, Tally(spot=1)
        else:
            key, add = None, Tally(events=1)
        out[key] = out.get(key, Tally()) + add
    return out


def describe(why: str, counts: Tally, since: str) -> str:
    if counts.events and not (counts.continuous or counts.spot):
        return f"{why}: evicted {counts.events} device events (oldest first) since {since}"
    return (f"{why}: evicted {counts.continuous} continuous and {counts.spot} spot readings "
            f"(oldest first) since {since}")
