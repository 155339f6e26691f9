"""The stored readings the stateless rules look back over, for a whole flush in one statement.

Per patient and metric the rules need (vigil.rules.required_history, only for the rules the
batch triggers): the newest `take` trusted readings measured in [since, split], and all those
measured in (split, until] -- for NEWS2 (latest only) the newest reading before the batch and
whatever else was stored between the batch's readings; for trends and averages the whole
window. The batch itself is in the table by now and is not history: the caller has it.

Most of what that asks for is the batch again -- with a continuous stream, every reading in
(split, until] and the newest one at the split are the flush's own -- so the statement does
not look for, or send back, what the rules would not use:
- when the batch holds a trusted reading of the metric at the split, the newest reading at or
  before the split is not looked up: it is that reading (thrown away as the batch's own) or
  one measured at the very same instant, which the batch's reading supersedes (latest-only
  rules take the batch's reading of an instant; it replaces a stored one as the trigger);
- readings in (split, until] come back only when there are more trusted ones than the
  batch's own (`expected`), i.e. when something else was stored in between; otherwise there
  is nothing but the batch there (and nothing at all to look at for a single instant);
- for a metric the batch does not hold (`absent`: the other NEWS2 parameters of an oximetry
  stream), one look at the newest reading up to the batch's end answers both questions when
  it is at or before the split -- the usual case; only otherwise are both asked.
Parameters go per patient (times) and per distinct rule profile (metrics and windows), not
per request: the list parameters' client-side dumping costs more than the query. Whatever
still comes back is filtered against the flush's reading ids, as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from ingest.alerting.rulesets import Rules, history_needs
from ingest.alerting.store import int_array
from vigil.messages import Origin
from vigil.metrics import BY_NUMBER, Metric
from vigil.quality import QUESTIONABLE
from vigil.rules import Observation, Sample
from vigil.rules.observation import questionable

QUESTIONABLE_FLAGS = sorted(flag.value for flag in QUESTIONABLE)
# Upper bound of stored readings fetched per patient and metric for one evaluation.
HISTORY_CAP = 20_000

_TRUSTED_ROWS = """
    SELECT metric, value, measured_at, origin, reading_id FROM readings r
    WHERE r.patient_id = q.patient_id AND r.metric = q.metric
      AND NOT (r.quality && %(questionable)b::text[])
"""
HISTORY = f"""
WITH p AS (
    SELECT * FROM unnest(%(patients)s::int[], %(earliest)b::timestamptz[],
                         %(latest)b::timestamptz[], %(profiles)s::int[])
        WITH ORDINALITY AS p(patient_id, earliest, latest, profile, i)
), n AS (
    SELECT * FROM unnest(%(n_profile)b::int[], %(n_metric)b::int2[], %(n_window)b::interval[],
                         %(n_whole)b::bool[]) AS n(profile, metric, span, whole)
), b AS (
    SELECT * FROM unnest(%(b_index)s::int8[], %(b_metric)s::int2[], %(b_exclude)s::text[],
                         %(b_expected)s::int[]) AS b(i, metric, exclude_id, expected)
), q AS (
    SELECT p.patient_id, n.metric, p.earliest - n.span AS since,
           CASE WHEN n.whole THEN p.latest ELSE p.earliest END AS split, p.latest AS until,
           CASE WHEN n.whole THEN %(cap)s ELSE 1 END AS take, n.whole,
           b.exclude_id::uuid AS exclude_id, coalesce(b.expected, 0) AS expected,
           b.i IS NULL AS absent
    FROM p JOIN n ON n.profile = p.profile
    LEFT JOIN b ON b.i = p.i AND b.metric = n.metric
)
SELECT q.patient_id, r.metric, r.value, r.measured_at, r.origin, r.reading_id::text
FROM q
LEFT JOIN LATERAL ({_TRUSTED_ROWS} AND r.measured_at >= q.since AND r.measured_at <= q.until
                   AND q.absent AND NOT q.whole
                   ORDER BY r.measured_at DESC LIMIT 1) AS top ON true
CROSS JOIN LATERAL (
    SELECT top.metric, top.value, top.measured_at, top.origin, top.reading_id
    WHERE top.measured_at <= q.split
    UNION ALL
    ({_TRUSTED_ROWS} AND r.measured_at >= q.since AND r.measured_at <= q.split
     AND q.exclude_id IS NULL AND (q.whole OR NOT q.absent OR top.measured_at > q.split)
     ORDER BY r.measured_at DESC LIMIT q.take)
    UNION ALL
    ({_TRUSTED_ROWS} AND r.measured_at > q.split AND r.measured_at <= q.until
     AND NOT q.whole AND q.split < q.until AND CASE WHEN q.absent
         THEN top.measured_at > q.split
         ELSE q.expected <> (
             SELECT count(*) FROM readings c
             WHERE c.patient_id = q.patient_id AND c.metric = q.metric
               AND c.measured_at > q.split AND c.measured_at <= q.until
               AND NOT (c.quality && %(questionable)b::text[])) END
     ORDER BY r.measured_at DESC LIMIT %(cap)s)
) AS r
"""


@dataclass(slots=True)
class HistoryQuery:
    """One flush's history requests, as the statement's parameters."""

    patients: list[int] = field(default_factory=list)
    earliest: list[datetime] = field(default_factory=list)
    latest: list[datetime] = field(default_factory=list)
    profiles: list[int] = field(default_factory=list)
    # Per distinct (rules, batch metrics): the metrics, windows and kinds asked for.
    _profile_of: dict[tuple[int, frozenset[Any]], int] = field(default_factory=dict)
    n_profile: list[int] = field(default_factory=list)
    n_metric: list[int] = field(default_factory=list)
    n_window: list[Any] = field(default_factory=list)
    n_whole: list[bool] = field(default_factory=list)
    # Per patient and latest-only metric the batch holds: a trusted reading of it at the
    # split (its id), and how many of its trusted readings lie after the split.
    b_index: list[int] = field(default_factory=list)
    b_metric: list[int] = field(default_factory=list)
    b_exclude: list[str | None] = field(default_factory=list)
    b_expected: list[int] = field(default_factory=list)

    def add(self, patient_id: int, rules: Rules, batch: Sequence[Sample]) -> None:
        """The history `batch` (one patient's new readings, in any order) needs: counted back
        from its earliest reading and reaching up to its latest, so stored readings measured
        between the batch's readings are seen too."""
        metrics = frozenset(o.metric for o in batch)
        needs = history_needs(rules, metrics)
        if not needs:
            return
        key = (id(rules), metrics)
        profile = self._profile_of.get(key)
        if profile is None:
            profile = self._profile_of[key] = len(self._profile_of)
            for need in needs:
                self.n_profile.append(profile)
                self.n_metric.append(need.number)
                self.n_window.append(need.window)
                self.n_whole.append(not need.latest_only)
        times = [o.measured_at for o in batch]
        earliest = min(times)
        self.patients.append(patient_id)
        self.earliest.append(earliest)
        self.latest.append(max(times))
        self.profiles.append(profile)
        index = len(self.patients)  # WITH ORDINALITY counts from 1
        at_split: dict[Metric, str | None] = {}
        after: dict[Metric, int] = {}
        latest_only = rules.latest_only
        for o in batch:
            metric = o.metric
            if metric not in latest_only or (o.quality and questionable(o)):
                continue
            if o.measured_at == earliest:
                # Only a reading id can be excluded in SQL (a Reading's always is one).
                at_split.setdefault(metric, o.id if o.id and _UUID.fullmatch(o.id) else None)
            else:
                after[metric] = after.get(metric, 0) + 1
        for metric in at_split.keys() | after.keys():
            self.b_index.append(index)
            self.b_metric.append(_NUMBER[metric])
            self.b_exclude.append(at_split.get(metric))
            self.b_expected.append(after.get(metric, 0))

    def load(self, cur: psycopg.Cursor[Any], exclude: frozenset[str]
             ) -> dict[int, list[Observation]]:
        """Trusted stored readings per patient, newest first within each request, except
        the readings in `exclude` (the flush's own). Filtered by id here rather than by xmin
        in SQL: TimescaleDB refuses system columns on compressed chunks."""
        found: dict[int, list[Observation]] = {}
        if not self.patients:
            return found
        cur.execute(HISTORY, {
            "patients": int_array(self.patients), "earliest": self.earliest,
            "latest": self.latest, "profiles": int_array(self.profiles),
            "n_profile": self.n_profile, "n_metric": self.n_metric, "n_window": self.n_window,
            "n_whole": self.n_whole, "b_index": int_array(self.b_index),
            "b_metric": int_array(self.b_metric),
            # Reading ids are UUIDs: nothing in them needs quoting in an array literal.
            "b_exclude": "{" + ",".join(x or "NULL" for x in self.b_exclude) + "}",
            "b_expected": int_array(self.b_expected), "questionable": QUESTIONABLE_FLAGS,
            "cap": HISTORY_CAP})
        for pid, metric, value, measured_at, origin, reading_id in cur:
            if reading_id in exclude:
                continue
            # Questionable readings were filtered out above, so the flags are not needed here.
            found.setdefault(pid, []).append(Observation.trusted(
                BY_NUMBER[metric].metric, value, measured_at, origin=Origin(origin),
                id=reading_id))
        return found


_NUMBER = {spec.metric: number for number, spec in BY_NUMBER.items()}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
