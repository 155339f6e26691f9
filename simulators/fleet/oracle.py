"""The end-to-end oracle: what the database holds for this fleet against what it sent, and the
alerts raised against the alerts its scenario expected. Read only; psycopg is imported here
only, so a fleet without `--database-url` does not need it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from simulators.fleet.report import AlertCheck, AlertCount, DatabaseCheck

if TYPE_CHECKING:
    from simulators.fleet.engine import FleetRun


def check_database(
    url: str, run: FleetRun, *, settle_s: float
) -> tuple[DatabaseCheck, AlertCheck | None]:
    import psycopg

    addresses = [d.id for g in run.roster.gateways for d in g.devices]
    stored: set[str] = set()
    every: set[str] = set()
    for gateway in run.gateways:
        outbox = gateway.outbox
        stored.update(i for i in outbox.confirmed if i not in outbox.rejected)
        every.update(outbox.confirmed)
        every.update(outbox.inflight)
        every.update(r.id for r in outbox.unsent)
    with psycopg.connect(url, autocommit=True) as conn:
        device_rows = conn.execute(
            "SELECT id, address FROM devices WHERE address = ANY(%s)", (addresses,)
        ).fetchall()
        device_ids = [row[0] for row in device_rows]
        ids = [str(row[0]) for row in conn.execute(
            "SELECT reading_id FROM readings WHERE device_id = ANY(%s)", (device_ids,)
        )]
        dead_row = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE gateway_id = ANY(%s) AND received_at >= %s",
            ([g.id for g in run.gateways], run.started_wall),
        ).fetchone()
        distinct = set(ids)
        database = DatabaseCheck(
            rows=len(ids),
            distinct_ids=len(distinct),
            duplicates=len(ids) - len(distinct),
            missing=len(stored - distinct),
            unexpected=len(distinct - every),
            dead_letters=None if dead_row is None else int(dead_row[0]),
        )
        alerts = _alerts(conn, run, device_rows, settle_s)
    return database, alerts


def _counts(pairs: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    return Counter(pairs)


def _alerts(conn: Any, run: FleetRun, device_rows: list[tuple[int, str]],
            settle_s: float) -> AlertCheck | None:
    if conn.execute("SELECT to_regclass('alerts')").fetchone()[0] is None:
        return None  # a database without the alert tables (API migrations not applied)
    by_address = {d.id: d.patient_id for g in run.roster.gateways for d in g.devices}
    enrolled = conn.execute(
        "SELECT DISTINCT e.patient_id, d.address FROM enrolments e "
        "JOIN devices d ON d.id = e.device_id WHERE d.id = ANY(%s)",
        ([row[0] for row in device_rows],),
    ).fetchall()
    patient_of = {int(pid): by_address[address] for pid, address in enrolled}
    scenario = run.fleet_scenario.scenario
    expected = _counts((e.patient, e.rule) for e in scenario.expected()) if scenario else Counter()
    deadline = time.monotonic() + settle_s
    while True:
        # Alerts from this run only: a rerun against the same database must not count old ones.
        rows = conn.execute(
            "SELECT patient_id, rule_key, count(*) FROM alerts "
            "WHERE patient_id = ANY(%s) AND created_at >= %s GROUP BY 1, 2",
            (list(patient_of), run.started_wall),
        ).fetchall()
        raised: Counter[tuple[str, str]] = Counter()
        for pid, rule, count in rows:
            raised[(patient_of[int(pid)], str(rule))] += int(count)
        missing = [key for key in expected if key not in raised]
        if not missing or time.monotonic() >= deadline:
            break
        # Time-driven rules (offline, missing data) fire from the sweeper, a little later.
        time.sleep(0.5)
    return AlertCheck(
        raised=[AlertCount(patient=p, rule=r, count=n) for (p, r), n in sorted(raised.items())],
        expected=[AlertCount(patient=p, rule=r, count=n)
                  for (p, r), n in sorted(expected.items())],
        missing=[AlertCount(patient=p, rule=r, count=expected[(p, r)]) for p, r in missing],
        unexpected=[AlertCount(patient=p, rule=r, count=n)
                    for (p, r), n in sorted(raised.items()) if (p, r) not in expected],
    )
