from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil import topics
from vigil.topics import BUCKETS, Channel, InvalidTopic

gateway_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(gateway_ids, st.sampled_from(list(Channel)))
def test_topic_round_trip(gateway_id: str, channel: Channel) -> None:
    parsed = topics.parse(topics.topic(gateway_id, channel))
    assert (parsed.gateway_id, parsed.channel) == (gateway_id, channel)


@pytest.mark.parametrize(
    "name",
    [
        "vigil/v1/gw/00/gw-1",  # too short
        "vigil/v1/gw/00/gw-1/readings/extra",
        "other/v1/gw/00/gw-1/readings",
        "vigil/v1/gw/xx/gw-1/readings",
        "vigil/v1/gw/+/gw-1/readings",
        "vigil/v1/gw/00/gw#/readings",
        "vigil/v1/gw/00/gw-1/secrets",
    ],
)
def test_bad_topics_are_refused(name: str) -> None:
    with pytest.raises(InvalidTopic):
        topics.parse(name)


def test_wrong_bucket_is_refused() -> None:
    good = topics.topic("gw-1", Channel.READINGS)
    bucket = good.split("/")[3]
    wrong = good.replace(f"/{bucket}/", f"/{(int(bucket) + 1) % BUCKETS:02d}/")
    with pytest.raises(InvalidTopic):
        topics.parse(wrong)


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "x" * 65, "sp ace"])
def test_invalid_gateway_ids_have_no_topic(bad: str) -> None:
    with pytest.raises(InvalidTopic):
        topics.topic(bad, Channel.READINGS)


@pytest.mark.parametrize("workers", [1, 2, 3, 5, 64])
def test_partitions_are_disjoint_and_cover_every_bucket(workers: int) -> None:
    shares = [set(topics.partition(w, workers)) for w in range(workers)]
    assert set().union(*shares) == set(range(BUCKETS))
    assert sum(len(s) for s in shares) == BUCKETS


def test_subscriptions_for_a_partition() -> None:
    subs = topics.ingest_subscriptions([1, 2], channels=[Channel.READINGS])
    assert subs == ["vigil/v1/gw/01/+/readings", "vigil/v1/gw/02/+/readings"]
    assert topics.ingest_subscriptions()[0] == "vigil/v1/gw/+/+/readings"
