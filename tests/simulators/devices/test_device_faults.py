"""Fault profiles: validated, and every random choice deterministic by (seed, address)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.gatt import MalformedPacket, PlxSpotCheck, decode
from simulators.devices.faults import FaultProfile, Faults
from simulators.gatt import encode

PACKET = bytes(range(1, 20))
SPOT = encode(PlxSpotCheck(spo2=97, pulse_rate=72))


def run(faults: Faults, n: int = 50) -> list[bytes]:
    return [faults.mangle(PACKET) for _ in range(n)]


def test_same_seed_and_address_give_the_same_faults() -> None:
    profile = FaultProfile(corrupt_rate=0.3, truncate_rate=0.3)
    assert run(Faults(profile, 7, "AA:01")) == run(Faults(profile, 7, "aa:01"))
    assert run(Faults(profile, 7, "AA:01")) != run(Faults(profile, 8, "AA:01"))
    assert run(Faults(profile, 7, "AA:01")) != run(Faults(profile, 7, "AA:02"))


def test_no_faults_leaves_packets_alone() -> None:
    assert run(Faults(FaultProfile(), 1, "AA:01")) == [PACKET] * 50


@given(st.integers(0, 2**32), st.sampled_from(["AA:01", "BB:02"]))
def test_truncated_spot_checks_never_decode(seed: int, address: str) -> None:
    faults = Faults(FaultProfile(truncate_rate=1.0), seed, address)
    cut = faults.mangle(SPOT)
    assert 1 <= len(cut) < len(SPOT)
    with pytest.raises(MalformedPacket):
        decode(0x2A5E, cut)


def test_corruption_flips_exactly_one_bit() -> None:
    faults = Faults(FaultProfile(corrupt_rate=1.0), 3, "AA:01")
    for _ in range(20):
        out = faults.mangle(PACKET)
        diff = [a ^ b for a, b in zip(out, PACKET, strict=True) if a != b]
        assert len(diff) == 1 and bin(diff[0]).count("1") == 1


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"drop_rate": 1.5}, "drop_rate"),
        ({"corrupt_rate": -0.1}, "corrupt_rate"),
        ({"out_of_range": ((10.0, 5.0),)}, "empty"),
    ],
)
def test_bad_profiles_are_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FaultProfile(**kwargs)  # type: ignore[arg-type]


def test_out_of_range_windows() -> None:
    profile = FaultProfile(out_of_range=((10.0, 20.0), (30.0, float("inf"))))
    assert [profile.out_of_range_at(t) for t in (0, 10, 19.9, 20, 30, 1e9)] == [
        False,
        True,
        True,
        False,
        True,
        True,
    ]
