"""Device clock policy: from the time a device stamped on a measurement to measured_at (UTC).

Device clocks are naive (no zone) and drift; patients set them by hand, or never. The gateway
therefore does not trust the stamp itself but the *offset* it observes between the device clock
and its own clock:

1. On every connection the gateway reads the device's Current Time (0x2A2B) when it can, and
   records offset = device clock - gateway UTC clock. A stamp then maps to
   measured_at = stamp - offset. Intervals between stamps stay exactly as the device measured
   them, and the device's zone does not matter.
2. The device clock is *expected* to show local time in `timezone` (what the patient sees).
   skew = offset - that zone's UTC offset. |skew| > tolerance marks readings corrected that way
   CLOCK_CORRECTED; |skew| > skew_threshold raises a CLOCK_SKEW event; and when the Current Time
   characteristic is writable the gateway sets the clock (CLOCK_SET event), after stored
   records have been fetched, then reads it back for the readings that follow.
3. Without an observed offset (no readable Current Time) the stamp is taken as local time in
   `timezone` and the reading is flagged CLOCK_UNRELIABLE.
4. A measurement cannot postdate its arrival: a mapped time later than receipt + tolerance is
   replaced by the receipt time and flagged CLOCK_UNRELIABLE.
5. A reading without a device stamp was measured when it arrived (live streams).

The reading id keeps the device's own stamp (vigil.messages.reading_id), so re-fetching a
stored record after the clock policy changed its measured_at still deduplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from vigil.quality import QualityFlag


def zone(name: str) -> tzinfo:
    """'local' is the gateway's system zone; otherwise an IANA name such as Europe/London."""
    if name == "local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    return ZoneInfo(name)


def naive_local(at: datetime, tz: tzinfo) -> datetime:
    """What a wall clock in `tz` shows at instant `at` (naive, as a device clock holds it)."""
    return at.astimezone(tz).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One observation of a device clock: what it showed, and our UTC time when it did."""

    device_time: datetime  # naive
    gateway_time: datetime  # aware

    @property
    def offset_s(self) -> float:
        return (self.device_time - self.gateway_time.astimezone(UTC).replace(tzinfo=None)) \
            .total_seconds()


@dataclass(frozen=True, slots=True)
class Stamped:
    measured_at: datetime
    flags: tuple[QualityFlag, ...]


@dataclass(frozen=True, slots=True)
class ClockPolicy:
    tz: tzinfo
    tolerance_s: float
    skew_threshold_s: float

    def skew_s(self, observed: ClockReading) -> float:
        """How far the device clock is from local time in the policy zone (+ = ahead)."""
        return (observed.device_time - naive_local(observed.gateway_time, self.tz)).total_seconds()

    def is_skewed(self, observed: ClockReading) -> bool:
        return abs(self.skew_s(observed)) > self.skew_threshold_s

    def needs_setting(self, observed: ClockReading) -> bool:
        return abs(self.skew_s(observed)) > self.tolerance_s

    def measured_at(
        self, device_time: datetime | None, received_at: datetime, observed: ClockReading | None
    ) -> Stamped:
        if device_time is None:
            return Stamped(received_at, ())
        flags: list[QualityFlag] = []
        if observed is not None:
            at = (device_time - timedelta(seconds=observed.offset_s)).replace(tzinfo=UTC)
            if self.needs_setting(observed):
                flags.append(QualityFlag.CLOCK_CORRECTED)
        else:
            at = device_time.replace(tzinfo=self.tz).astimezone(UTC)
            flags.append(QualityFlag.CLOCK_UNRELIABLE)
        if at > received_at + timedelta(seconds=self.tolerance_s):
            return Stamped(received_at, (QualityFlag.CLOCK_UNRELIABLE,))
        return Stamped(at, tuple(flags))
