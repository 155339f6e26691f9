"""End-to-end Acks, serialised without building pydantic models.

After every flush ingest publishes one Ack to each gateway it heard from; with a virtual ward's
one or two readings a message that is one Ack per message, and building an `Ack` model and
dumping it was most of the cost of publishing it. The payload here is pydantic-core's own JSON
serialiser applied to plain lists and dicts, with the commit time serialised once per flush:
byte for byte what `vigil.messages.encode(Ack(...))` produces (tests/ingest/test_ingest_acks.py
checks it for arbitrary ids and reasons). Nothing is re-validated: every id passed the contract
on its way in, as with the `model_construct` this replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pydantic_core

from ingest.reasons import RejectReason
from vigil.messages import MAX_PAYLOAD_BYTES, SCHEMA_VERSION, PayloadTooLarge


class AckEncoder:
    """Ack payloads for one commit."""

    def __init__(self, committed_at: datetime) -> None:
        self.committed_at = committed_at
        # The field order and spelling of vigil.messages.Ack.
        self._head = b'{"v":%d,"kind":"ack","gateway_id":' % SCHEMA_VERSION
        self._time = b',"committed_at":' + pydantic_core.to_json(committed_at) + b',"stored":'

    def encode(self, gateway: str, stored: Sequence[str],
               rejected: Sequence[tuple[str, RejectReason]]) -> bytes:
        data = b"".join((
            self._head, pydantic_core.to_json(gateway), self._time,
            pydantic_core.to_json(list(stored)), b',"rejected":',
            pydantic_core.to_json([{"id": i, "reason": r.value} for i, r in rejected]), b"}"))
        if len(data) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(len(data), MAX_PAYLOAD_BYTES)
        return data
