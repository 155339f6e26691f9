"""Release in arrival order what finishes out of order.

Ingest's writers commit batches concurrently, but an MQTT client must send its PUBACKs in the
order the PUBLISH packets arrived (MQTT 5.0, 4.6: "It MUST send PUBACK packets in the order in
which the corresponding PUBLISH packets were received"). Each message gets a sequence number on
arrival; a committed message waits here until every message before it has committed too. A
message that never commits (the process gives up on the database while stopping) holds back
everything after it: those stay unacknowledged and the broker redelivers them, which is the
safe direction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class InOrder(Generic[T]):
    """Not thread-safe: the caller holds its own lock around complete() and what it does with
    the released items, so two threads cannot send two released runs out of order."""

    def __init__(self, first: int = 0) -> None:
        self._next = first
        self._done: dict[int, T] = {}

    @property
    def released(self) -> int:
        """How many sequence numbers have been released (the next one to release, from 0)."""
        return self._next

    @property
    def waiting(self) -> int:
        """Completed items held back behind an earlier one still outstanding."""
        return len(self._done)

    def complete(self, items: Iterable[tuple[int, T]]) -> list[T]:
        """Mark (sequence, item) pairs done; return the items now releasable, in order.
        A sequence number already released or already completed is a caller's bug."""
        done = self._done
        for seq, item in items:
            if seq < self._next or seq in done:
                raise ValueError(f"sequence {seq} completed twice")
            done[seq] = item
        out: list[T] = []
        n = self._next
        while n in done:
            out.append(done.pop(n))
            n += 1
        self._next = n
        return out
