"""Record memory and RACP record selection (Glucose Service 3.8 operators)."""

from __future__ import annotations

import pytest

from edge.gatt.racp import RacpOpCode, RacpOperator, RacpResponseCode
from simulators.devices.records import RecordStore, select
from simulators.gatt.racp import RacpRequest

REPORT = RacpOpCode.REPORT_STORED_RECORDS


def store_of(n: int, capacity: int = 100) -> RecordStore[str]:
    store: RecordStore[str] = RecordStore(capacity)
    for _ in range(n):
        store.add(lambda seq: f"r{seq}")
    return store


def seq(value: int) -> bytes:
    return b"\x01" + value.to_bytes(2, "little")


@pytest.mark.parametrize(
    "operator, operand, expected",
    [
        (RacpOperator.ALL_RECORDS, b"", [0, 1, 2, 3, 4]),
        (RacpOperator.GREATER_THAN_OR_EQUAL_TO, seq(3), [3, 4]),
        (RacpOperator.GREATER_THAN_OR_EQUAL_TO, seq(9), []),
        (RacpOperator.LESS_THAN_OR_EQUAL_TO, seq(1), [0, 1]),
        (RacpOperator.WITHIN_RANGE_OF, seq(1) + (3).to_bytes(2, "little"), [1, 2, 3]),
        (RacpOperator.FIRST_RECORD, b"", [0]),
        (RacpOperator.LAST_RECORD, b"", [4]),
        (RacpOperator.NULL, b"", RacpResponseCode.INVALID_OPERATOR),
        (0x07, b"", RacpResponseCode.INVALID_OPERATOR),
        (RacpOperator.ALL_RECORDS, seq(1), RacpResponseCode.INVALID_OPERAND),
        (RacpOperator.GREATER_THAN_OR_EQUAL_TO, b"", RacpResponseCode.INVALID_OPERAND),
        (RacpOperator.GREATER_THAN_OR_EQUAL_TO, b"\x01\x00", RacpResponseCode.INVALID_OPERAND),
        (
            RacpOperator.GREATER_THAN_OR_EQUAL_TO,
            b"\x02" + bytes(7),
            RacpResponseCode.OPERAND_NOT_SUPPORTED,
        ),
        (
            RacpOperator.WITHIN_RANGE_OF,
            seq(3) + (1).to_bytes(2, "little"),
            RacpResponseCode.INVALID_OPERAND,
        ),
    ],
)
def test_select(operator: int, operand: bytes, expected: list[int] | RacpResponseCode) -> None:
    chosen = select(store_of(5).records, RacpRequest(REPORT, operator, operand))
    if isinstance(expected, RacpResponseCode):
        assert chosen == expected
    else:
        assert not isinstance(chosen, RacpResponseCode)
        assert [r.sequence for r in chosen] == expected


def test_full_memory_forgets_the_oldest_and_never_reuses_a_sequence() -> None:
    store = store_of(7, capacity=3)
    assert [(r.sequence, r.value) for r in store.records] == [(4, "r4"), (5, "r5"), (6, "r6")]
    store.delete(store.records[:2])
    assert [r.sequence for r in store.records] == [6]
    assert store.add(lambda s: f"r{s}").sequence == 7
    with pytest.raises(ValueError):
        RecordStore(0)
