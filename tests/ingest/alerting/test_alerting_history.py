"""The flush's history statement (ingest.alerting.history) against the plain one it replaced:
the same stored readings come back -- minus the batch's own, which the new statement leaves
in the database -- whatever is stored at the batch's edges or between its readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alerting_helpers import Ward, incoming, reading, set_rules

from ingest.alerting.history import QUESTIONABLE_FLAGS, HistoryQuery
from ingest.alerting.rulesets import history_metrics, rules_for
from ingest.writer import BatchWriter
from vigil.messages import Origin, Reading
from vigil.metrics import CATALOGUE, Metric
from vigil.quality import QualityFlag
from vigil.rules import Observation

CAP = 20_000
# The statement before: two index scans per (patient, metric), every row sent back.
_TRUSTED = """
    SELECT metric, value, measured_at, origin, reading_id FROM readings r
    WHERE r.patient_id = q.patient_id AND r.metric = q.metric
      AND NOT (r.quality && %(questionable)s::text[])
"""
REFERENCE = f"""
SELECT q.patient_id, r.metric, r.value, r.measured_at, r.origin, r.reading_id::text
FROM unnest(%(patients)s::int[], %(metrics)s::int2[], %(since)s::timestamptz[],
            %(split)s::timestamptz[], %(until)s::timestamptz[], %(take)s::int[])
     AS q(patient_id, metric, since, split, until, take)
CROSS JOIN LATERAL (
    ({_TRUSTED} AND r.measured_at >= q.since AND r.measured_at <= q.split
     ORDER BY r.measured_at DESC LIMIT q.take)
    UNION ALL
    ({_TRUSTED} AND r.measured_at > q.split AND r.measured_at <= q.until
     ORDER BY r.measured_at DESC LIMIT %(cap)s)
) AS r
"""
SPO2, PULSE, HR, RR = Metric.SPO2, Metric.PULSE_RATE, Metric.HEART_RATE, Metric.RESPIRATORY_RATE
BAD = (QualityFlag.LOW_PERFUSION,)
SECOND = timedelta(seconds=1)


def reference(cur: psycopg.Cursor[Any], patient_id: int, condition: str | None,
              batch: list[Observation], exclude: frozenset[str]) -> list[tuple[object, ...]]:
    earliest = min(o.measured_at for o in batch)
    latest = max(o.measured_at for o in batch)
    rules = rules_for(condition, None)
    rows: dict[str, list[Any]] = {k: [] for k in ("patients", "metrics", "since", "split",
                                                  "until", "take")}
    for metric, need in history_metrics(rules, (o.metric for o in batch)).items():
        split = earliest if need.latest_only else latest
        for name, value in (("patients", patient_id), ("metrics", CATALOGUE[metric].number),
                            ("since", earliest - need.window), ("split", split),
                            ("until", latest), ("take", 1 if need.latest_only else CAP)):
            rows[name].append(value)
    cur.execute(REFERENCE, {**rows, "questionable": QUESTIONABLE_FLAGS, "cap": CAP})
    # A stored reading measured at the very instant of a trusted batch reading of the same
    # metric is superseded by it (NEWS2 takes the batch's, so does the trigger lookup): the new
    # statement does not look for it.
    latest_only = {m for m, need in history_metrics(rules, (o.metric for o in batch)).items()
                   if need.latest_only}
    superseded = {(CATALOGUE[o.metric].number, o.measured_at) for o in batch
                  if o.measured_at == earliest and not o.questionable and o.metric in latest_only}
    return sorted(
        (metric, value, measured_at, origin, reading_id)
        for _, metric, value, measured_at, origin, reading_id in cur
        if reading_id not in exclude and (metric, measured_at) not in superseded)


def store(ward: Ward, readings: list[Reading]) -> None:
    with psycopg.connect(ward.url) as conn:
        BatchWriter.prepare(conn)
        BatchWriter().write(conn, [incoming(ward.gateway, readings)])


def scenario(name: str, devices: list[str], t0: datetime
             ) -> tuple[list[Reading], list[Reading]]:
    """(stored before, the batch) for each case."""
    a, b = devices[0], devices[1]

    def r(device: str, metric: Metric, value: float, at: datetime, **kw: Any) -> Reading:
        return reading(device, metric, value, at, **kw)

    stream = [r(a, m, v, t0 - s * SECOND) for s in range(1, 4)
              for m, v in ((SPO2, 97.0), (PULSE, 72.0))]
    batch = [r(a, m, v, t0 + s * SECOND) for s in range(5) for m, v in ((SPO2, 96.0),
                                                                       (PULSE, 70.0))]
    match name:
        case "stream":
            return stream, batch
        case "one instant":
            return stream, [r(a, SPO2, 95.0, t0), r(a, PULSE, 71.0, t0)]
        case "tie at the split":  # another device measured at the batch's first instant
            return [*stream, r(b, SPO2, 93.0, t0), r(b, PULSE, 80.0, t0)], batch
        case "stored in between":  # a heart-rate strap and a late reading inside the span
            return [*stream, r(b, HR, 77.0, t0 + 2 * SECOND),
                    r(b, SPO2, 91.0, t0 + 3 * SECOND, origin=Origin.LATE)], batch
        case "questionable at the split":
            return stream, [r(a, SPO2, 60.0, t0, quality=BAD), *batch[2:]]
        case "questionable in between":
            return [*stream, r(b, SPO2, 50.0, t0 + 2 * SECOND, quality=BAD)], batch
        case "after the batch and long before":
            return [r(a, RR, 18.0, t0 - timedelta(minutes=50)),
                    r(a, RR, 19.0, t0 - timedelta(hours=2)), *stream,
                    r(b, SPO2, 90.0, t0 + timedelta(minutes=5))], batch
        case "heart failure weight":
            days = [r(a, Metric.BODY_WEIGHT, 70.0 + d, t0 - timedelta(days=d)) for d in (1, 2, 4)]
            return days, [r(a, Metric.BODY_WEIGHT, 73.0, t0), r(a, SPO2, 97.0, t0)]
    raise AssertionError(name)


@pytest.mark.parametrize("name", [
    "stream", "one instant", "tie at the split", "stored in between",
    "questionable at the split", "questionable in between", "after the batch and long before",
    "heart failure weight",
])
def test_history_is_the_reference_less_the_batch(ward: Ward, name: str) -> None:
    condition = "heart_failure" if "heart failure" in name else None
    if condition is not None:
        set_rules(ward, condition)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    before, batch = scenario(name, ward.devices, t0)
    store(ward, before)
    store(ward, batch)  # in the table, as when the hook runs
    observations = [Observation.from_reading(r) for r in batch]
    exclude = frozenset(r.id for r in batch)
    rules = rules_for(condition, None)
    with psycopg.connect(ward.url) as conn, conn.cursor() as cur:
        expected = reference(cur, ward.patient_id, condition, observations, exclude)
        query = HistoryQuery()
        query.add(ward.patient_id, rules, observations)
        found = query.load(cur, exclude).get(ward.patient_id, [])
    got = sorted((CATALOGUE[o.metric].number, o.value, o.measured_at, o.origin.value, o.id)
                 for o in found)
    assert got == expected
    if name == "stream":
        assert got == []  # nothing but the batch there: nothing sent back
    if name == "stored in between":
        assert len(got) == 2
    if name in ("questionable at the split", "after the batch and long before"):
        assert got  # the newest stored reading before the batch counts there
