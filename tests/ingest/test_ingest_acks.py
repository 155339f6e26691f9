"""The Ack encoder writes byte for byte what the contract's encode(Ack) writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.acks import AckEncoder
from ingest.reasons import RejectReason
from vigil.messages import MAX_PAYLOAD_BYTES, Ack, PayloadTooLarge, RejectedReading, encode


def _contract(gateway: str, at: datetime, stored: list[str],
              rejected: list[tuple[str, RejectReason]]) -> bytes:
    return encode(Ack.model_construct(
        gateway_id=gateway, committed_at=at, stored=stored,
        rejected=[RejectedReading.model_construct(id=i, reason=r.value) for i, r in rejected]))


@settings(max_examples=200, deadline=None)
@given(gateway=st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
       at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
       # Any text, not only well-formed ids: the encoder must escape exactly as pydantic does.
       stored=st.lists(st.text(max_size=40), max_size=20),
       rejected=st.lists(st.tuples(st.text(max_size=40), st.sampled_from(list(RejectReason))),
                         max_size=10))
def test_same_bytes_as_the_contract(gateway: str, at: datetime, stored: list[str],
                                    rejected: list[tuple[str, RejectReason]]) -> None:
    assert AckEncoder(at).encode(gateway, stored, rejected) == _contract(gateway, at, stored,
                                                                         rejected)


@pytest.mark.parametrize(("stored", "rejected"), [
    ([], []),
    (["0b5b1b4e-5f0e-5d2a-9a53-3f1c1b2a4e01"], []),
    ([], [("0b5b1b4e-5f0e-5d2a-9a53-3f1c1b2a4e01", RejectReason.NOT_ENROLLED)]),
])
def test_round_trips_through_the_contract(stored: list[str],
                                          rejected: list[tuple[str, RejectReason]]) -> None:
    at = datetime(2026, 11, 25, 15, 0, 0, 123456, tzinfo=UTC)
    ack = Ack.model_validate_json(AckEncoder(at).encode("gw-1", stored, rejected))
    assert (ack.gateway_id, ack.committed_at, ack.stored) == ("gw-1", at, stored)
    assert [(r.id, r.reason) for r in ack.rejected] == [(i, r.value) for i, r in rejected]


def test_an_oversized_ack_is_refused_like_the_contract_refuses_it() -> None:
    ids = ["x" * 1000] * (MAX_PAYLOAD_BYTES // 1000 + 1)
    with pytest.raises(PayloadTooLarge):
        AckEncoder(datetime.now(UTC)).encode("gw-1", ids, [])
