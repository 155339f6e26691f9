"""The MQTT topic scheme.

    vigil/v1/gw/<bucket>/<gateway>/readings  gateway -> ingest   ReadingBatch  (QoS 1)
    vigil/v1/gw/<bucket>/<gateway>/status    gateway -> all      GatewayStatus (QoS 1, retained)
    vigil/v1/gw/<bucket>/<gateway>/events    gateway -> ingest   DeviceEvent   (QoS 1)
    vigil/v1/gw/<bucket>/<gateway>/ack       ingest  -> gateway  Ack           (QoS 1)

Each gateway owns one subtree, so a broker ACL can pin it to its MQTT username (the gateway id):
see ACL_PATTERNS. The bucket (a stable hash of the gateway id) lets several ingest workers each
subscribe to a disjoint set of buckets without shared subscriptions (ARCHITECTURE.md decision 9).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "vigil/v1/gw"
BUCKETS = 64

_GATEWAY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Channel(StrEnum):
    READINGS = "readings"
    STATUS = "status"
    EVENTS = "events"
    ACK = "ack"


class InvalidTopic(ValueError):
    """A topic outside the scheme, or naming an invalid gateway id."""


@dataclass(frozen=True, slots=True)
class Topic:
    gateway_id: str
    channel: Channel
    bucket: int


def bucket_of(gateway_id: str) -> int:
    return zlib.crc32(gateway_id.encode()) % BUCKETS


def topic(gateway_id: str, channel: Channel) -> str:
    if not _GATEWAY_ID.match(gateway_id):
        raise InvalidTopic(f"invalid gateway id {gateway_id!r}")
    return f"{PREFIX}/{bucket_of(gateway_id):02d}/{gateway_id}/{channel.value}"


def parse(name: str) -> Topic:
    """The gateway and channel of a topic; the bucket must match the gateway id."""
    parts = name.split("/")
    if len(parts) != 6 or "/".join(parts[:3]) != PREFIX:
        raise InvalidTopic(f"topic {name!r} is outside {PREFIX}/<bucket>/<gateway>/<channel>")
    bucket_text, gateway_id, channel_text = parts[3], parts[4], parts[5]
    if not _GATEWAY_ID.match(gateway_id):
        raise InvalidTopic(f"invalid gateway id in topic {name!r}")
    try:
        channel = Channel(channel_text)
    except ValueError:
        raise InvalidTopic(f"unknown channel {channel_text!r} in topic {name!r}") from None
    if not bucket_text.isdigit() or int(bucket_text) != bucket_of(gateway_id):
        raise InvalidTopic(f"bucket {bucket_text!r} does not belong to gateway {gateway_id!r}")
    return Topic(gateway_id=gateway_id, channel=channel, bucket=int(bucket_text))


def ingest_subscriptions(
    buckets: Iterable[int] | None = None,
    channels: Iterable[Channel] = (Channel.READINGS, Channel.STATUS, Channel.EVENTS),
) -> list[str]:
    """Topic filters for an ingest worker owning `buckets` (all of them when None)."""
    chosen = ["+"] if buckets is None else [f"{b:02d}" for b in sorted(set(buckets))]
    return [f"{PREFIX}/{b}/+/{c.value}" for b in chosen for c in channels]


def partition(worker: int, workers: int) -> list[int]:
    """The buckets worker `worker` (0-based) of `workers` owns: disjoint and covering."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    return [b for b in range(BUCKETS) if b % workers == worker]


# Mosquitto ACL: %u is the authenticated username, which is the gateway id.
ACL_PATTERNS = f"""\
pattern write {PREFIX}/+/%u/readings
pattern write {PREFIX}/+/%u/status
pattern write {PREFIX}/+/%u/events
pattern read {PREFIX}/+/%u/ack
"""
