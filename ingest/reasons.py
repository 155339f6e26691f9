"""Why ingest rejects something: the fixed vocabulary of dead-letter reasons.

The same strings are allowed by the dead_letters.reason CHECK constraint (migration 0003), used
as the `reason` of a rejected reading in the end-to-end Ack, and as a metrics label.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    # whole message
    OVERSIZED = "oversized"  # larger than vigil.messages.MAX_PAYLOAD_BYTES, not parsed
    BAD_TOPIC = "bad_topic"  # outside the topic scheme, or a bucket that is not the gateway's
    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"  # the envelope, or one reading, breaks the contract
    PAYLOAD_GATEWAY_MISMATCH = "payload_gateway_mismatch"  # payload names another gateway
    UNKNOWN_GATEWAY = "unknown_gateway"
    # one reading
    UNKNOWN_DEVICE = "unknown_device"
    NOT_ENROLLED = "not_enrolled"  # known device, no enrolment at the measurement time
    ENROLLED_TO_OTHER_PATIENT = "enrolled_to_other_patient"  # enrolled via another gateway
    IMPLAUSIBLE_VALUE = "implausible_value"  # outside the catalogue's plausible range
    FUTURE_TIMESTAMP = "future_timestamp"
    # the database refused a message that passed validation, or ingest failed on it
    # internally: kept with its raw bytes so one poison message cannot wedge ingest
    STORAGE_ERROR = "storage_error"
